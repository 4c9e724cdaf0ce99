import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOT_USER, resolveBotUser } from '../runtime/bot-user.js';
import { FORBIDDEN_ENV_NAMES, FORBIDDEN_ENV_PREFIXES } from '../lib/bot-spec.js';
import { projectRoot } from '../lib/project-root.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

const asRoot = process.getuid?.() === 0;

const hostPort = (url: string, port: number) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || port}`;
};

/** A bot that tries to reach what it must not, and prints what it managed: one line, `PROBE {json}`. */
const PROBE = `
import fs from 'node:fs';
import net from 'node:net';
const connect = (target) => new Promise((resolve) => {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const socket = net.connect({ host, port, timeout: 3000 });
  socket.once('connect', () => { socket.destroy(); resolve('connected'); });
  socket.once('timeout', () => { socket.destroy(); resolve('timeout'); });
  socket.once('error', (err) => resolve(err.code));
});
const attempt = (fn) => { try { fn(); return 'allowed'; } catch (err) { return err.code ?? err.message; } };
const status = Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').map((l) => l.split(':\\t')).filter((p) => p.length === 2));
const ppid = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[1]);
const report = {
  uid: status.Uid.split('\\t')[0],
  gid: status.Gid.split('\\t')[0],
  groups: status.Groups.trim(),
  noNewPrivs: status.NoNewPrivs,
  capEff: status.CapEff,
  platformEnviron: attempt(() => fs.readFileSync('/proc/' + process.env.PROBE_PLATFORM_PID + '/environ')),
  parentEnviron: attempt(() => fs.readFileSync('/proc/' + ppid + '/environ')),
  dataDirList: attempt(() => fs.readdirSync(process.env.PROBE_DATA_DIR)),
  secretKey: attempt(() => fs.readFileSync(process.env.PROBE_DATA_DIR + '/secret.key')),
  logsDirList: attempt(() => fs.readdirSync(process.env.PROBE_LOGS_DIR)),
  otherBotLog: attempt(() => fs.readFileSync(process.env.PROBE_OTHER_LOG)),
  writeBotsDir: attempt(() => fs.writeFileSync('planted.sh', 'echo planted')),
  home: process.env.HOME,
  user: process.env.USER,
  envNames: Object.keys(process.env).sort(),
  connections: Object.fromEntries(await Promise.all((process.env.PROBE_CONNECT ?? '').split(',').filter(Boolean).map(async (t) => [t, await connect(t)]))),
};
console.log('PROBE ' + JSON.stringify(report));
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;

describe('bots run apart from the platform', () => {
  let t: TestPlatform;
  let secret: string;

  beforeAll(async () => {
    secret = `isolation-secret-${Math.random().toString(36).slice(2)}`;
    t = await startTestPlatform('postgres', {
      ADMIN_API_KEY: secret,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    });
    await fs.writeFile(path.join(t.config.paths.botsDir, 'probe.mjs'), PROBE, { mode: 0o644 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses env names that change how an interpreter or the loader runs, on create, PATCH and deployment alike', async () => {
    const id = t.uniqueId('env');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'env', blueprint: 'sleeper.mjs', env: { SAFE_NAME: 'ok' } }))
        .status,
    ).toBe(201);
    const names = [
      ...FORBIDDEN_ENV_NAMES,
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
      'LD_AUDIT',
      'DYLD_INSERT_LIBRARIES',
      'CODEX32_BOT_TOKEN',
    ];
    for (const name of names) {
      const env = { SAFE_NAME: 'ok', [name]: '/tmp/evil' };
      const create = await t.request('POST', '/api/v1/bots', {
        id: t.uniqueId('env'),
        name: 'env',
        blueprint: 'sleeper.mjs',
        env,
      });
      const patch = await t.request('PATCH', `/api/v1/bots/${id}`, { env });
      const deploy = await t.request('POST', '/api/v1/deployments', { bot_id: id, env });
      for (const [what, r] of [
        ['create', create],
        ['PATCH', patch],
        ['deployment', deploy],
      ] as const) {
        expect(r.status, `${what} with ${name}`).toBe(422);
        expect(r.body.detail, `${what} with ${name}`).toContain(`"${name}"`);
        expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(`env.${name}`);
      }
    }
    // Names that are not environment names, and keys that name a property of every object.
    for (const [body, message] of [
      ['{"lower_case":"x"}', /"lower_case" is not an environment name/],
      ['{"constructor":"x"}', /"constructor" is not allowed/],
      ['{"__proto__":"x"}', /__proto__/],
      ['{"A-B":"x"}', /"A-B" is not an environment name/],
    ] as const) {
      const r = await t.request('PATCH', `/api/v1/bots/${id}`, `{"env":${body}}`);
      expect(r.status, body).toBe(422);
      expect(r.body.detail, body).toMatch(message);
    }
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.env).toEqual(['SAFE_NAME']);
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`)).body.total).toBe(0);
  });

  it.skipIf(!asRoot)(
    'a bot runs as BOT_USER with no privileges and reaches none of the platform: its environ, data, key or logs',
    async () => {
      const victim = t.uniqueId('victim');
      expect(
        (
          await t.request('POST', '/api/v1/bots', {
            id: victim,
            name: 'victim',
            blueprint: 'sleeper.mjs',
            env: { VICTIM_SECRET: 'do-not-read' },
          })
        ).status,
      ).toBe(201);
      expect((await t.request('POST', `/api/v1/bots/${victim}/start`)).status).toBe(202);
      await waitForBot(t, victim, 'running', (b) => b.status === 'running');

      const id = t.uniqueId('probe');
      const env = {
        PROBE_PLATFORM_PID: String(process.pid),
        PROBE_DATA_DIR: t.config.paths.dataDir,
        PROBE_LOGS_DIR: t.config.paths.botLogsDir,
        PROBE_OTHER_LOG: path.join(t.config.paths.botLogsDir, `${victim}.log`),
        PROBE_CONNECT: [
          t.config.TEMPORAL_ADDRESS!,
          hostPort(t.config.DATABASE_URL!, 5432),
          hostPort(t.config.REDIS_URL!, 6379),
          hostPort(t.url, 80),
        ].join(','),
      };
      expect((await t.request('POST', '/api/v1/bots', { id, name: 'probe', blueprint: 'probe.mjs', env })).status).toBe(
        201,
      );
      expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
      const running = await waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid);
      const line = await waitFor(async () => {
        const logs = await t.request('GET', `/api/v1/bots/${id}/logs?tail=20`);
        return (logs.body.lines as string[]).find((l) => l.startsWith('PROBE '));
      }, 'the probe report');
      const report = JSON.parse(line.slice('PROBE '.length)) as Record<string, string | string[]>;

      const [, , uid, gid, , home] = execFileSync('getent', ['passwd', DEFAULT_BOT_USER], { encoding: 'utf8' })
        .trim()
        .split(':');
      expect(report).toMatchObject({
        uid,
        gid,
        groups: '',
        noNewPrivs: '1',
        capEff: '0000000000000000',
        user: DEFAULT_BOT_USER,
        home,
      });
      expect(Number(report.uid)).not.toBe(0);
      for (const reach of [
        'platformEnviron',
        'parentEnviron',
        'dataDirList',
        'secretKey',
        'logsDirList',
        'otherBotLog',
        'writeBotsDir',
      ] as const) {
        expect(report[reach], reach).toBe('EACCES');
      }
      // The platform's Temporal, PostgreSQL and Redis are out of reach; its API is not (bots report to it).
      const connections = report.connections as unknown as Record<string, string>;
      expect(Object.values(connections)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'connected']);
      expect(report.envNames).not.toContain('ADMIN_API_KEY');
      expect(report.envNames).not.toContain('API_SECRET_KEY');

      // Seen from outside: the process itself, its privileges, and the platform's directories.
      const status = readFileSync(`/proc/${running.pid}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, 'm'));
      expect(status).toMatch(/^NoNewPrivs:\t1$/m);
      expect(status).toMatch(/^CapBnd:\t0+$/m);
      for (const dir of [
        t.config.paths.dataDir,
        t.config.paths.logsDir,
        t.config.paths.botLogsDir,
        t.config.paths.runDir,
      ]) {
        expect(((await fs.stat(dir)).mode & 0o777).toString(8), dir).toBe('700');
      }
      expect(((await fs.stat(path.join(t.config.paths.botLogsDir, `${id}.log`))).mode & 0o777).toString(8)).toBe('600');
      await t.request('POST', `/api/v1/bots/${id}/stop`);
      await t.request('POST', `/api/v1/bots/${victim}/stop`);
    },
  );

  it('a refused name stored by an older release never reaches the process', async () => {
    const id = t.uniqueId('legacy');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'legacy', blueprint: 'sleeper.mjs', env: { KEPT: 'yes' } }))
        .status,
    ).toBe(201);
    // As a row written before names were checked.
    const env = JSON.stringify({
      KEPT: 'yes',
      LD_PRELOAD: '/tmp/evil.so',
      NODE_OPTIONS: '--require /tmp/evil.cjs',
      lower_case: 'kept too',
    });
    await t.platform.registry.db.updateTable('bots').set({ env }).where('id', '=', id).execute();
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const running = await waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid);
    const names = readFileSync(`/proc/${running.pid}/environ`, 'utf8')
      .split('\0')
      .map((e) => e.split('=')[0]);
    expect(names).toContain('KEPT');
    expect(names).toContain('lower_case');
    expect(names).not.toContain('LD_PRELOAD');
    expect(names).not.toContain('NODE_OPTIONS');
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it.skipIf(!asRoot)('a blueprint the bot user cannot read fails its launch with what to change', async () => {
    const hidden = path.join(t.config.paths.botsDir, 'private');
    await fs.mkdir(hidden, { mode: 0o700 });
    await fs.writeFile(path.join(hidden, 'secret-bot.sh'), 'sleep 100\n', { mode: 0o644 });
    const id = t.uniqueId('hidden');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'hidden', blueprint: 'private/secret-bot.sh' })).status,
    ).toBe(201);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const failed = await waitForBot(t, id, 'failed', (b) => b.status === 'failed');
    expect(failed.status_reason).toContain(`runs as ${DEFAULT_BOT_USER}, who cannot run it`);
    expect(failed.status_reason).toContain(`cannot enter ${hidden}`);
  });
});

describe('BOT_USER', () => {
  const logger = { warn: () => undefined } as unknown as Parameters<typeof resolveBotUser>[1]['logger'];
  const resolve = (value: string | undefined) => resolveBotUser(value, { logger, searchPath: process.env.PATH });

  it('is never root, and names a user that exists', () => {
    expect(() => resolve('root')).toThrow(/bots never run as root/);
    expect(() => resolve('0')).toThrow(/bots never run as root/);
    expect(() => resolve('no-such-user-c32')).toThrow(
      /BOT_USER=no-such-user-c32: there is no such user.*npm run setup/,
    );
  });

  it.skipIf(!asRoot)('defaults to codex32-bot for a root platform, and takes a name or uid:gid', () => {
    expect(resolve(undefined)).toMatchObject({ name: DEFAULT_BOT_USER, sharedWithPlatform: false });
    expect(resolve('nobody')).toMatchObject({ name: 'nobody', uid: 65534, sharedWithPlatform: false });
    expect(resolve('4242:4343')).toMatchObject({ uid: 4242, gid: 4343, sharedWithPlatform: false });
  });

  it.skipIf(!asRoot)(
    'a platform that is not root runs bots as itself, with a warning, and cannot switch to another user',
    () => {
      const module = path.join(projectRoot(), 'dist', 'runtime', 'bot-user.js');
      const script = (botUser: string | null) =>
        `const { resolveBotUser } = await import(${JSON.stringify(module)}); const warnings = [];` +
        `try { const u = resolveBotUser(${botUser === null ? 'undefined' : JSON.stringify(botUser)}, { logger: { warn: (_o, m) => warnings.push(m) }, searchPath: process.env.PATH }); console.log(JSON.stringify({ u, warnings })); }` +
        `catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
      const run = (botUser: string | null) =>
        JSON.parse(
          execFileSync(
            'setpriv',
            [
              '--reuid',
              DEFAULT_BOT_USER,
              '--regid',
              DEFAULT_BOT_USER,
              '--clear-groups',
              '--',
              process.execPath,
              '--input-type=module',
              '-e',
              script(botUser),
            ],
            { encoding: 'utf8', env: { PATH: process.env.PATH } },
          ),
        );
      const unset = run(null);
      expect(unset.u).toMatchObject({ name: DEFAULT_BOT_USER, sharedWithPlatform: true });
      expect(unset.warnings[0]).toMatch(/does not run as root, so bots run as its own user/);
      expect(run('nobody').error).toMatch(/only a platform running as root can run bots as another user/);
    },
  );
});

describe('the documented list of refused environment names', () => {
  it('is the one the schema refuses', () => {
    const doc = readFileSync(path.join(projectRoot(), 'SECURITY.md'), 'utf8');
    const listed = /<!-- forbidden-env:start -->([\s\S]*?)<!-- forbidden-env:end -->/.exec(doc)?.[1] ?? '';
    const names = [...listed.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(names).toEqual([...FORBIDDEN_ENV_NAMES, ...FORBIDDEN_ENV_PREFIXES]);
  });
});

describe('the platform process hides its secrets from processes of the same user', () => {
  // Two processes of one user (codex32-bot when the test is root, who reads everything): one holds a secret in
  // its environment, the other tries to read it, before and after the first marks itself undumpable.
  it('/proc/<pid>/environ of an undumpable process is unreadable to the same user', async () => {
    const hardening = path.join(projectRoot(), 'dist', 'lib', 'process-hardening.js');
    const asUser = (args: string[]) =>
      (asRoot
        ? ['setpriv', ['--reuid', DEFAULT_BOT_USER, '--regid', DEFAULT_BOT_USER, '--clear-groups', '--', ...args]]
        : [args[0]!, args.slice(1)]) as [string, string[]];
    const holder = (undumpable: boolean) => {
      const code = `${undumpable ? `const why = (await import(${JSON.stringify(hardening)})).makeUndumpable(); if (why) throw new Error(why);` : ''} console.log('ready'); setInterval(() => {}, 1000);`;
      const [cmd, args] = asUser([process.execPath, '--input-type=module', '-e', code]);
      const child = spawn(cmd, args, {
        env: { PATH: process.env.PATH, HOLDER_SECRET: 'platform-secret' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      return new Promise<typeof child>((resolve) => child.stdout!.once('data', () => resolve(child)));
    };
    const readEnviron = (pid: number) => {
      const [cmd, args] = asUser([
        process.execPath,
        '-e',
        `try { process.stdout.write(require('fs').readFileSync('/proc/${pid}/environ', 'utf8').includes('platform-secret') ? 'read' : 'other') } catch (e) { process.stdout.write(e.code) }`,
      ]);
      return execFileSync(cmd, args, { encoding: 'utf8' });
    };
    const plain = await holder(false);
    const hardened = await holder(true);
    try {
      expect(readEnviron(plain.pid!)).toBe('read');
      expect(readEnviron(hardened.pid!)).toBe('EACCES');
    } finally {
      plain.kill('SIGKILL');
      hardened.kill('SIGKILL');
    }
  });
});
