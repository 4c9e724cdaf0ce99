import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import {
  isAlive,
  registerBuildBot,
  startTestPlatform,
  TEST_BOTS,
  waitForBot,
  type TestPlatform,
} from './helpers/platform.js';

const CLI = path.join(projectRoot(), 'dist', 'bin', 'codex32.js');

/** A build as CI has it: a directory with the bot, whose behaviour is baked in (good, crash, errors, silent). */
async function buildDir(root: string, mode: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, `build-${mode}-`));
  const source = TEST_BOTS['build.mjs']!.content.replace("process.argv[2] ?? 'good'", JSON.stringify(mode));
  await fs.mkdir(path.join(dir, 'src'));
  await fs.writeFile(path.join(dir, 'src', 'bot.mjs'), source);
  await fs.writeFile(path.join(dir, 'README.md'), `build ${mode}\n`);
  await fs.chmod(dir, 0o755);
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

describe('codex32 CLI: a pipeline deploys with a deployer key and exits with the outcome', () => {
  let t: TestPlatform;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    const key = await t.request('POST', '/api/v1/api-keys', { name: 'pipeline', preset: 'deployer' });
    expect(key.status).toBe(201);
    env = { CODEX32_URL: t.url, CODEX32_API_KEY: key.body.key };
  });
  afterAll(async () => {
    await t?.close();
  });

  const register = async (id: string) => {
    await registerBuildBot(t, id);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    return waitForBot(t, id, 'running', (b) => b.status === 'running');
  };
  const deploy = (id: string, mode: string, dir: string, extra: string[] = []) =>
    cli(
      [
        'deploy',
        id,
        '--artifact',
        dir,
        '--entrypoint',
        'src/bot.mjs',
        '--ref',
        `build-${mode}`,
        '--min-healthy',
        '2',
        '--deadline',
        '8',
        '--wait',
        ...extra,
      ],
      env,
    );

  it('a good build exits 0 with revision n+1 running; a build that exits at once exits 1, rolled back, with its last log line', async () => {
    const id = t.uniqueId('pipeline');
    const before = await register(id);
    const good = await deploy(id, 'good', await buildDir(t.root, 'good'));
    expect(good.code, good.stderr).toBe(0);
    expect(good.stderr).toMatch(/applying/);
    expect(good.stderr).toMatch(/verifying/);
    expect(good.stderr).toMatch(/succeeded/);
    const up = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    expect(up.revision).toBe(before.revision + 1);
    expect(up.blueprint).toBeNull();

    const bad = await deploy(id, 'crash', await buildDir(t.root, 'crash'), ['--json']);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.ms).toBeLessThan(8000 + 10_000);
    expect(bad.stderr).toMatch(/rolled_back/);
    expect(bad.stderr).toContain('fatal: build crash cannot read its config');
    const d = JSON.parse(bad.stdout);
    expect(d).toMatchObject({ phase: 'rolled_back', revision: up.revision + 1, rollback_revision: up.revision + 2 });
    const after = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    expect(after.revision).toBe(up.revision + 2);
    expect(after.pid).not.toBe(up.pid);
    expect(isAlive(up.pid)).toBe(false);
    expect(isAlive(after.pid)).toBe(true);
    const incidents = await t.request('GET', `/api/v1/incidents?bot_id=${id}&kind=deployment_failed`);
    expect(incidents.body.incidents[0].evidence.last_log_lines.join('\n')).toContain('cannot read its config');

    const revisions = await cli(['revisions', id], env);
    expect(revisions.code).toBe(0);
    expect(revisions.stdout).toMatch(new RegExp(`${up.revision + 2}\\*\\s+rollback of ${up.revision}`));
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a build with 90 % errors and one that never heartbeats are rolled back (exit 1)', async () => {
    const id = t.uniqueId('pipeline-gate');
    await register(id);
    expect((await deploy(id, 'good', await buildDir(t.root, 'good'))).code).toBe(0);
    const errors = await deploy(id, 'errors', await buildDir(t.root, 'errors'));
    expect(errors.code, errors.stderr).toBe(1);
    expect(errors.stderr).toMatch(/error rate|degraded/);
    const silent = await deploy(id, 'silent', await buildDir(t.root, 'silent'), [
      '--deadline',
      '4',
      '--min-healthy',
      '1',
    ]);
    expect(silent.code, silent.stderr).toBe(1);
    expect(silent.stderr).toMatch(/progress_deadline|heartbeat/);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('exits 2 when refused, 3 when waiting times out, 4 without the right key; rollback, status, bots and deployments work with the key', async () => {
    const id = t.uniqueId('pipeline-codes');
    await register(id);
    const dir = await buildDir(t.root, 'good');
    const slow = await cli(
      [
        'deploy',
        id,
        '--artifact',
        dir,
        '--entrypoint',
        'src/bot.mjs',
        '--min-healthy',
        '30',
        '--deadline',
        '60',
        '--wait',
        '--timeout',
        '2',
      ],
      env,
    );
    expect(slow.code, slow.stderr).toBe(3);
    expect(slow.stderr).toMatch(/--timeout/);
    const busy = await deploy(id, 'good', dir);
    expect(busy.code, busy.stderr).toBe(2);
    expect(busy.stderr).toMatch(/deployment in progress/i);
    const missing = await cli(['deploy', id, '--artifact', dir, '--wait'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--entrypoint/);
    const wrongKey = await cli(['deploy', id, '--artifact', dir, '--entrypoint', 'src/bot.mjs'], {
      ...env,
      CODEX32_API_KEY: 'c32_nope_nope',
    });
    expect(wrongKey.code).toBe(4);
    const envChange = await cli(['deploy', id, '--env', 'A=b', '--supersede'], env);
    expect(envChange.code, envChange.stderr).toBe(4);

    for (const args of [['bots'], ['status', id], ['deployments', id], ['revisions', id]]) {
      const r = await cli(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    // What a bot prints may be secret: a deployer key does not read it; an operator's does.
    expect((await cli(['logs', id, '--tail', '5'], env)).code).toBe(4);
    const logs = await cli(['logs', id, '--tail', '5'], { ...env, CODEX32_API_KEY: t.adminKey });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('build good up');
    expect((await cli(['status', id], env)).stdout).toContain(id);
    const back = await cli(['rollback', id, '--revision', '1', '--wait'], env);
    // The slow deployment is still verifying: refused, and the words say which one.
    expect(back.code).toBe(2);
    const version = await cli(['--version'], {});
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
