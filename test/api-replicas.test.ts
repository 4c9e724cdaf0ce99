import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { createTestDatabase, waitFor } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two real API processes (npm run api), one PostgreSQL, one Redis. */
describe('two API processes sharing PostgreSQL and Redis', () => {
  const apis: Array<{ url: string; child: ChildProcess }> = [];
  let root: string;
  let dropDb: () => Promise<void>;
  const prefix = `replica-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-replicas-'));
    const db = await createTestDatabase();
    dropDb = () => db.drop();
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'bin', 'api.js')], {
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: db.url,
          REDIS_URL,
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          API_PORT: String(port),
          API_SECRET_KEY: 'r'.repeat(64),
          ADMIN_USERNAME: 'admin',
          ADMIN_PASSWORD: 'Sturdy-Test-Passw0rd',
          LOGIN_FAILURES_PER_ACCOUNT: '4',
          DATA_DIR: path.join(root, `data-${i}`),
          LOGS_DIR: path.join(root, `logs-${i}`),
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const url = `http://127.0.0.1:${port}`;
      apis.push({ url, child });
      await waitFor(async () => (await fetch(`${url}/health/ready`)).status === 200, `API process ${i} ready`, 60_000, 200);
    }
  });

  afterAll(async () => {
    for (const { child } of apis) child.kill('SIGTERM');
    await Promise.all(apis.map(({ child }) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)))));
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys('codex32:rl:login-account:*');
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await dropDb?.();
    await fs.rm(root, { recursive: true, force: true });
  });

  const login = (i: number, username: string, password: string) =>
    fetch(`${apis[i]!.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

  it('one bootstrap administrator, tokens valid on both, and failed logins counted across both', async () => {
    const token = (await (await login(0, 'admin', 'Sturdy-Test-Passw0rd')).json()) as { access_token: string };
    const me = await fetch(`${apis[1]!.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token.access_token}` } });
    expect(me.status).toBe(200);
    const users = (await (await fetch(`${apis[1]!.url}/api/v1/users`, { headers: { Authorization: `Bearer ${token.access_token}` } })).json()) as { total: number };
    expect(users.total).toBe(1);

    const victim = `${prefix}-victim`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login(i % 2, victim, 'wrong-password-x')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const refused = await login(0, victim, 'wrong-password-x');
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
