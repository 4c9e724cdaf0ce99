#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm dependencies when they are missing or
// older than package-lock.json, builds the Temporal CLI when no cluster is named
// and `temporal` is nowhere to be found, and (as root) creates the user bots run
// as. Plain Node, no dependencies: it runs before them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `\n${cmd} ${args.join(' ')} failed (exit ${r.status}); fix the error above and run the command again.`,
    );
    process.exit(r.status ?? 1);
  }
};

const installed = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log('Installing npm dependencies (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

const onPath = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v temporal'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!process.env.TEMPORAL_ADDRESS && !onPath && !existsSync(path.join(root, '.tools', 'bin', 'temporal'))) {
  run('sh', [path.join(root, 'scripts', 'install-temporal.sh')]);
}

// Local bots never run as root: a platform started as root runs them as this system user (BOT_USER), created here once.
const BOT_USER = 'codex32-bot';
if (process.getuid?.() === 0 && spawnSync('getent', ['passwd', BOT_USER], { stdio: 'ignore' }).status !== 0) {
  console.log(`Creating the system user ${BOT_USER}, which local bots run as...`);
  run('useradd', [
    '--system',
    '--user-group',
    '--create-home',
    '--home-dir',
    `/var/lib/${BOT_USER}`,
    '--shell',
    '/usr/sbin/nologin',
    '--comment',
    'Codex-32 bots',
    BOT_USER,
  ]);
}

if (spawnSync('python3', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.warn(
    'python3 is not installed: Python bots (such as bots/analytics_bot.py) will fail to launch. Install python3 to run them.',
  );
}

// Debian packages, installed here as root where apt-get is; elsewhere what needs them says so, and its tests are skipped.
//  - voice: the pocketsphinx library and its en-us model (speech-to-text), espeak-ng and sox (the voice tests' speech);
//  - the console's tests in a real browser: Debian's chromium (playwright-core drives it; its own downloads need the internet).
const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const wanted = [
  {
    what: 'voice',
    effect: 'voice commands will say they are not available, and the voice tests are skipped',
    missing: [
      ...(existsSync('/usr/share/pocketsphinx/model/en-us/en-us') ? [] : ['pocketsphinx', 'pocketsphinx-en-us']),
      ...(spawnSync('sh', ['-c', 'ldconfig -p | grep -q libpocketsphinx.so.3']).status === 0
        ? []
        : ['libpocketsphinx3']),
      ...(has('espeak-ng') ? [] : ['espeak-ng']),
      ...(has('sox') ? [] : ['sox']),
    ],
  },
  {
    what: 'browser',
    effect: "the console's browser tests are skipped",
    missing: has('chromium') ? [] : ['chromium'],
  },
].filter((w) => w.missing.length > 0);
const missing = wanted.flatMap((w) => w.missing);
const INSTALL = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
if (missing.length > 0) {
  const hasAptGet = has('apt-get');
  const effects = wanted.map((w) => `${w.what}: ${w.effect}`).join('; ');
  if (process.getuid?.() === 0 && hasAptGet) {
    console.log(`Installing ${missing.join(', ')} with apt-get (${wanted.map((w) => w.what).join(', ')})...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const ok =
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env }).status === 0 &&
      spawnSync('sh', ['-c', INSTALL], { stdio: 'inherit', env }).status === 0;
    if (!ok) console.warn(`Could not install ${missing.join(', ')} (${effects}). Install them by hand: ${INSTALL}`);
  } else {
    console.warn(`Missing Debian packages ${missing.join(', ')} (${effects}). Install them with: sudo ${INSTALL}`);
  }
}

// The Kubernetes test suite's control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok), built once into .tools/k8s, and compose-check (docker-compose.yml
// loaded as Compose does, without Docker) into .tools/bin: each returns at once when built.
if (process.argv.includes('--k8s')) {
  run('sh', [path.join(root, 'scripts', 'k8s', 'build.sh')]);
  run('sh', [path.join(root, 'scripts', 'compose-check', 'build.sh')]);
}
