import { randomUUID } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { removeGuard } from '../runtime/network-guard.js';
import { callWithKey, createTestDatabase, makeBotsDir, waitFor } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';
import { Client } from './helpers/socket-client.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_KEY = `split-admin-${randomUUID()}`;
const asRoot = process.getuid?.() === 0;

/**
 * The API and the worker as two processes (npm run api, npm run worker), as
 * under Compose or with API replicas on other machines: the API reads a
 * bot's live figures from the samples the worker writes to Redis, never
 * from its own /proc, which (in a PID namespace of its own) has no bot in it.
 */
describe('API and worker as two processes sharing PostgreSQL and Redis', () => {
  const children: ChildProcess[] = [];
  let root: string;
  let api: string;
  let dropDb: () => Promise<void>;
  const id = `split-${randomUUID().slice(0, 8)}`;

  const start = (entry: 'api' | 'worker', env: Record<string, string>) => {
    const command = [process.execPath, path.join(projectRoot(), 'dist', 'bin', `${entry}.js`)];
    // As on another machine: the API in a PID namespace of its own sees no bot in its /proc (root only; unshare is util-linux's).
    const apart = entry === 'api' && asRoot ? ['unshare', '--pid', '--fork', '--mount-proc', ...command] : command;
    const child = spawn(apart[0]!, apart.slice(1), {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
  };

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-split-'));
    const botsDir = await makeBotsDir(root);
    const db = await createTestDatabase();
    dropDb = () => db.drop();
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const shared = {
      DATABASE_URL: db.url,
      REDIS_URL,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `split-${randomUUID()}`,
      API_SECRET_KEY: 's'.repeat(64),
      BOTS_DIR: botsDir,
      BOT_SAMPLE_INTERVAL_SECONDS: '1',
    };
    start('api', {
      ...shared,
      API_PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      DATA_DIR: path.join(root, 'api-data'),
      LOGS_DIR: path.join(root, 'api-logs'),
    });
    await waitFor(
      async () => (await fetch(`${api}/health/ready`)).status === 200,
      'the API process ready',
      60_000,
      200,
    );
    // The worker migrates and starts after the API has: both share the schema the API made.
    start('worker', {
      ...shared,
      API_PUBLIC_URL: api,
      DATA_DIR: path.join(root, 'worker-data'),
      LOGS_DIR: path.join(root, 'worker-logs'),
    });
  });

  afterAll(async () => {
    const bot = await call('GET', `/api/v1/bots/${id}`).catch(() => null);
    if (bot?.body?.pid) {
      try {
        process.kill(-bot.body.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const child of children) {
      // unshare --fork waits on its child and ignores SIGTERM: the API under it is asked to stop itself.
      if (child.spawnargs[0] === 'unshare') spawnSync('pkill', ['-TERM', '-P', String(child.pid)]);
      child.kill('SIGTERM');
    }
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await removeGuard(path.join(root, 'worker-data'), process.env.PATH);
    await dropDb?.();
    await fs.rm(root, { recursive: true, force: true });
  });

  const call = (method: string, p: string, body?: unknown) => callWithKey(api, ADMIN_KEY, method, p, body);

  it("a running bot's figures are there in the bot, the list, its knowledge and the chat's status", async () => {
    expect((await call('POST', '/api/v1/bots', { id, name: 'Split sleeper', blueprint: 'sleeper.mjs' })).status).toBe(
      201,
    );
    // The worker may still be connecting: the start waits for it.
    await waitFor(
      async () => (await call('POST', `/api/v1/bots/${id}/start`)).status === 202,
      'the start accepted',
      60_000,
      500,
    );
    const running = await waitFor(async () => {
      const b = (await call('GET', `/api/v1/bots/${id}`)).body;
      return b.status === 'running' ? b : undefined;
    }, 'running');
    // The launch took the first figures before it said running.
    expect(running.memory_usage_mb).toBeGreaterThan(0);
    expect(running.cpu_load).toBeGreaterThanOrEqual(0);
    expect(running.uptime_seconds).toBeGreaterThanOrEqual(0);

    const listed = (await call('GET', '/api/v1/bots')).body.bots.find((b: { bot_id: string }) => b.bot_id === id);
    expect(listed.memory_usage_mb).toBeGreaterThan(0);
    expect(listed.cpu_load).not.toBeNull();

    // Later rounds of the sampler keep them current (BOT_SAMPLE_INTERVAL_SECONDS=1).
    const knowledge = await waitFor(async () => {
      const k = (await call('GET', `/api/v1/bots/${id}/knowledge`)).body;
      return k.config?.memory_usage_mb > 5 && k.config?.uptime_seconds >= 1 ? k : undefined;
    }, 'knowledge with figures');
    expect(knowledge.config.cpu_load).not.toBeNull();

    const username = `split-op-${randomUUID().slice(0, 6)}`;
    expect(
      (await call('POST', '/api/v1/users', { username, password: 'Split-Operator-Passw0rd', role: 'operator' })).status,
    ).toBe(201);
    const login = await fetch(`${api}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'Split-Operator-Passw0rd' }),
    });
    const token = ((await login.json()) as { access_token: string }).access_token;
    const chat = await Client.open(`${api.replace('http', 'ws')}/ws/command/${username}?token=${token}`);
    const status = await chat.ask(`status of ${id}`);
    expect(status.text).toMatch(new RegExp(`^${id} is running \\(pid \\d+, up .*, CPU [\\d.]+%, [\\d.]+ MB\\)`));
    chat.close();
    expect((await call('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
  });
});
