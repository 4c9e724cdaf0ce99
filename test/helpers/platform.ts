import { randomUUID } from 'node:crypto';
import { readProcStatSync } from '../../runtime/proc.js';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createScratchDatabase } from '../../lib/scratch.js';
import { inject } from 'vitest';
import { startPlatform, type Platform } from '../../bin/platform.js';
import { removeGuard } from '../../runtime/network-guard.js';
import { loadConfig, type Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { botWorkflowId, stateQuery, type BotStateView } from '../../workflows/messages.js';

export type Engine = 'postgres' | 'pglite';

/** The PostgreSQL server of this machine (CI exports DATABASE_URL); each test file gets a database of its own. */
export const baseDatabaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createScratchDatabase(baseDatabaseUrl, 'c32_test');
}

/** Scripts every test can run, written into a fresh bots directory. */
export const TEST_BOTS: Record<string, { content: string; mode?: number }> = {
  'sleeper.mjs': {
    content: `process.on('SIGTERM', () => process.exit(0));\nsetInterval(() => console.log('tick', Date.now()), 1000);\nconsole.log('up', process.pid);\n`,
  },
  'crash.sh': { content: 'echo "about to fail"\nexit 3\n' },
  'stubborn.sh': { content: 'trap "echo ignoring TERM" TERM\nwhile true; do sleep 0.1; done\n' },
  'sleeper.py': { content: 'import time\nprint("py up", flush=True)\nwhile True:\n    time.sleep(1)\n' },
  runnable: { content: '#!/bin/sh\necho runnable\nwhile true; do sleep 1; done\n', mode: 0o755 },
  'notes.txt': { content: 'not a bot\n', mode: 0o644 },
  'nested/inner.sh': { content: 'sleep 1000\n' },
  // Grows by 8 MB every 100 ms (filled, so the pages are resident) up to 400 MB, then holds.
  'hog.mjs': {
    content: `process.on('SIGTERM', () => process.exit(0));\nconst held = [];\nconsole.log('hog up', process.pid);\nconst t = setInterval(() => { held.push(Buffer.alloc(8 * 1024 * 1024, 1)); console.log('holding', held.length * 8, 'MB'); if (held.length >= 50) clearInterval(t); }, 100);\nsetInterval(() => {}, 1000);\n`,
  },
  'closes-fd3.sh': { content: 'exec 3>&-\nwhile true; do sleep 0.2; done\n' },
  // A build whose behaviour is its first argument: good (heartbeats, no errors), crash (exits 7 at once),
  // errors (heartbeats with 9 errors in 10 requests), silent (runs, never heartbeats).
  'build.mjs': {
    content: `const mode = process.argv[2] ?? 'good';
process.on('SIGTERM', () => process.exit(0));
console.log('build', mode, 'up', process.pid);
if (mode === 'crash') { console.log('fatal: build', mode, 'cannot read its config'); process.exit(7); }
const beat = () => fetch(process.env.CODEX32_API_URL + '/api/v1/self/heartbeat', {
  method: 'POST',
  headers: { Authorization: 'Bearer ' + process.env.CODEX32_BOT_TOKEN, 'Content-Type': 'application/json' },
  body: JSON.stringify({ requests: 10, errors: mode === 'errors' ? 9 : 0 }),
}).catch((err) => console.log('beat failed', err.message));
if (mode !== 'silent') { beat(); setInterval(beat, 300); }
setInterval(() => {}, 1000);
`,
  },
  // Does what the JSON in $CONTROL_FILE says, read again all the time: {silent, requests, errors, burn}.
  // Heartbeats every BEAT_MS (requests/errors as counters) unless silent; burns a core while burn is true.
  'puppet.mjs': {
    content: `import fs from 'node:fs';
process.on('SIGTERM', () => process.exit(0));
const control = () => { try { return JSON.parse(fs.readFileSync(process.env.CONTROL_FILE, 'utf8')); } catch { return {}; } };
const beat = async () => {
  const c = control();
  if (c.silent) return;
  const res = await fetch(process.env.CODEX32_API_URL + '/api/v1/self/heartbeat', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + process.env.CODEX32_BOT_TOKEN, 'Content-Type': 'application/json' },
    body: JSON.stringify({ requests: c.requests ?? 10, errors: c.errors ?? 0 }),
  });
  console.log('beat', res.status);
};
setInterval(() => beat().catch((err) => console.log('beat failed', err.message)), Number(process.env.BEAT_MS ?? 300));
beat().catch(() => {});
const spin = () => {
  const burn = control().burn;
  if (burn) { const until = Date.now() + 50; while (Date.now() < until); }
  setTimeout(spin, burn ? 0 : 100);
};
spin();
console.log('puppet up', process.pid);
`,
  },
};

export async function makeBotsDir(root: string): Promise<string> {
  // Bots run as another user (codex32-bot when tests run as root): their scripts must be reachable by it.
  await fs.chmod(root, 0o755);
  const dir = path.join(root, 'bots');
  for (const [name, { content, mode }] of Object.entries(TEST_BOTS)) {
    const file = path.join(dir, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content, { mode: mode ?? 0o644 });
  }
  // A symlink that escapes the bots directory, and one that stays inside.
  await fs.writeFile(path.join(root, 'outside.sh'), 'echo escaped\n');
  await fs.symlink(path.join(root, 'outside.sh'), path.join(dir, 'escape.sh'));
  await fs.symlink(path.join(dir, 'sleeper.mjs'), path.join(dir, 'alias.mjs'));
  return dir;
}

export interface TestPlatform {
  url: string;
  config: Config;
  platform: Platform;
  root: string;
  /** As the administrator (X-API-Key: adminKey) unless `headers` carry Authorization or X-API-Key. */
  request(
    method: string,
    urlPath: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Without any credentials. */
  anonymous(
    method: string,
    urlPath: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** ADMIN_API_KEY of this platform. */
  adminKey: string;
  botState(botId: string): Promise<BotStateView>;
  /** Closes the API and the worker (never the bots) and starts them again on the same database, task queue and address. */
  restartControlPlane(): Promise<void>;
  uniqueId(prefix?: string): string;
  close(): Promise<void>;
}

export async function startTestPlatform(engine: Engine, env: Record<string, string> = {}): Promise<TestPlatform> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-test-'));
  const botsDir = await makeBotsDir(root);
  const database = engine === 'postgres' ? await createTestDatabase() : undefined;
  const adminKey = env.ADMIN_API_KEY ?? `test-admin-${randomUUID()}`;
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    API_PORT: '0',
    DATA_DIR: path.join(root, 'data'),
    LOGS_DIR: path.join(root, 'logs'),
    BOTS_DIR: botsDir,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    ARTIFACTS_DIR: path.join(root, 'artifacts'),
    BOT_STOP_GRACE_SECONDS: '2',
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: 'Sturdy-Test-Passw0rd',
    ADMIN_API_KEY: adminKey,
    // Tests poll hard; the tests of the limit itself set their own.
    RATE_LIMIT_REQUESTS: '1000000',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const logger = createLogger(config, 'test');
  let platform = await startPlatform({
    config,
    logger,
    temporalAddress: config.TEMPORAL_ADDRESS!,
    api: true,
    worker: true,
  });
  const url = platform.apiUrl!;
  const started = new Set<string>();

  const send = async (method: string, urlPath: string, body: unknown, headers: Record<string, string>) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + urlPath, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const match = /^\/api\/v1\/bots\/([^/]+)\/start$/.exec(urlPath);
    if (method === 'POST' && match) started.add(match[1]!);
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const request: TestPlatform['request'] = (method, urlPath, body, headers = {}) => {
    const hasCredentials = Object.keys(headers).some((h) => ['authorization', 'x-api-key'].includes(h.toLowerCase()));
    return send(method, urlPath, body, hasCredentials ? headers : { ...headers, 'X-API-Key': adminKey });
  };

  return {
    url,
    config,
    get platform() {
      return platform;
    },
    async restartControlPlane() {
      await platform.close();
      // The same address: clients (and bots) keep talking to it.
      const again = { ...config, API_PORT: Number(new URL(url).port) };
      platform = await startPlatform({
        config: again,
        logger,
        temporalAddress: config.TEMPORAL_ADDRESS!,
        api: true,
        worker: true,
      });
    },
    root,
    request,
    anonymous: (method, urlPath, body, headers = {}) => send(method, urlPath, body, headers),
    adminKey,
    botState: (botId) => platform.client.workflow.getHandle(botWorkflowId(botId)).query(stateQuery),
    uniqueId: (prefix = 'bot') => `${prefix}-${randomUUID().slice(0, 8)}`,
    async close() {
      // Bots outlive the control plane by design; a test must not leave them behind.
      const rows = await platform.registry.db
        .selectFrom('instances')
        .select(['pid'])
        .where('ended_at', 'is', null)
        .execute()
        .catch(() => []);
      for (const { pid } of rows) {
        if (pid) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      await platform.close();
      // The bots are gone: their guard goes too, or every test run would leave a chain behind.
      await removeGuard(config.paths.dataDir, config.botBaseEnv.PATH);
      await database?.drop();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * A bot of TEST_BOTS' build.mjs (its first argument says how the build behaves), with a heartbeat
 * interval, healed without backoff: what the deployment tests deploy new builds of.
 */
export async function registerBuildBot(
  t: Pick<TestPlatform, 'request'>,
  id: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const r = await t.request('POST', '/api/v1/bots', {
    id,
    name: id,
    blueprint: 'build.mjs',
    args: ['good'],
    heartbeat_interval_seconds: 1,
    heal_policy: { backoff_initial_seconds: 0, backoff_max_seconds: 0, backoff_jitter: 0 },
    ...extra,
  });
  if (r.status !== 201) throw new Error(`registering ${id}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** One JSON request to a platform run as separate processes, with an API key: its status and parsed body. */
export async function callWithKey(
  baseUrl: string,
  key: string,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: { 'X-API-Key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

/** GET /api/v1/bots/{id} until `ok` holds for it; the bot as it was then. */
export function waitForBot(
  t: Pick<TestPlatform, 'request'>,
  id: string,
  what: string,
  ok: (bot: any) => boolean,
  timeoutMs = 20_000,
): Promise<any> {
  return waitFor(
    async () => {
      const b = (await t.request('GET', `/api/v1/bots/${id}`)).body;
      return ok(b) ? b : undefined;
    },
    `${id}: ${what}`,
    timeoutMs,
  );
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message ?? JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Alive and not a zombie (an orphaned bot's zombie may linger until init reaps it). */
export function isAlive(pid: number): boolean {
  try {
    const state = readProcStatSync(pid)?.state;
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
