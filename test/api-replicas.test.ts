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
const REQUEST_LIMIT = 40;

/** Request counts of earlier runs (within the minute) would skew this one's. */
async function clearRequestCounts(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const keys = [...(await redis.keys('codex32:rl:login-account:*')), ...(await redis.keys('codex32:rl:requests:*'))];
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}

/** Two real API processes (npm run api), one PostgreSQL, one Redis. */
describe('two API processes sharing PostgreSQL and Redis', () => {
  const apis: Array<{ url: string; child: ChildProcess }> = [];
  let root: string;
  let dropDb: () => Promise<void>;
  const prefix = `replica-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    await clearRequestCounts();
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
          RATE_LIMIT_REQUESTS: String(REQUEST_LIMIT),
          DATA_DIR: path.join(root, `data-${i}`),
          LOGS_DIR: path.join(root, `logs-${i}`),
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const url = `http://127.0.0.1:${port}`;
      apis.push({ url, child });
      await waitFor(
        async () => (await fetch(`${url}/health/ready`)).status === 200,
        `API process ${i} ready`,
        60_000,
        200,
      );
    }
  });

  afterAll(async () => {
    for (const { child } of apis) child.kill('SIGTERM');
    await Promise.all(
      apis.map(({ child }) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)))),
    );
    await clearRequestCounts();
    await dropDb?.();
    await fs.rm(root, { recursive: true, force: true });
  });

  const login = (i: number, username: string, password: string) =>
    fetch(`${apis[i]!.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });

  it('one bootstrap administrator, tokens valid on both, and failed logins counted across both', async () => {
    const token = (await (await login(0, 'admin', 'Sturdy-Test-Passw0rd')).json()) as { access_token: string };
    const me = await fetch(`${apis[1]!.url}/api/v1/auth/me`, {
      headers: { Authorization: `Bearer ${token.access_token}` },
    });
    expect(me.status).toBe(200);
    const users = (await (
      await fetch(`${apis[1]!.url}/api/v1/users`, { headers: { Authorization: `Bearer ${token.access_token}` } })
    ).json()) as { total: number };
    expect(users.total).toBe(1);

    const victim = `${prefix}-victim`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login(i % 2, victim, 'wrong-password-x')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const refused = await login(0, victim, 'wrong-password-x');
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  const call = async (i: number, method: string, p: string, token: string, body?: unknown) => {
    const res = await fetch(`${apis[i]!.url}${p}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  it('a role change or a disabled account made on one process applies at the next request on the other', async () => {
    const admin = ((await (await login(0, 'admin', 'Sturdy-Test-Passw0rd')).json()) as { access_token: string })
      .access_token;
    const username = `${prefix}-op`;
    expect(
      (await call(0, 'POST', '/api/v1/users', admin, { username, password: 'Operator-Passw0rd-1', role: 'operator' }))
        .status,
    ).toBe(201);
    const op = ((await (await login(0, username, 'Operator-Passw0rd-1')).json()) as { access_token: string })
      .access_token;
    // Read twice on process 1, so that it has the user cached.
    for (let n = 0; n < 2; n++) expect((await call(1, 'GET', '/api/v1/incidents', op)).status).toBe(200);

    expect((await call(0, 'PATCH', `/api/v1/users/${username}`, admin, { role: 'user' })).status).toBe(200);
    expect((await call(1, 'GET', '/api/v1/incidents', op)).status).toBe(403);
    expect((await call(1, 'GET', '/api/v1/auth/me', op)).body.role).toBe('user');

    expect((await call(0, 'PATCH', `/api/v1/users/${username}`, admin, { disabled: true })).status).toBe(200);
    const refused = await call(1, 'GET', '/api/v1/auth/me', op);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/disabled/);
  });

  it('RATE_LIMIT_REQUESTS per user holds across both processes, with RateLimit headers and 429 + Retry-After', async () => {
    const admin = ((await (await login(1, 'admin', 'Sturdy-Test-Passw0rd')).json()) as { access_token: string })
      .access_token;
    const username = `${prefix}-busy`;
    expect(
      (await call(1, 'POST', '/api/v1/users', admin, { username, password: 'Busy-Viewer-Passw0rd', role: 'viewer' }))
        .status,
    ).toBe(201);
    const token = ((await (await login(0, username, 'Busy-Viewer-Passw0rd')).json()) as { access_token: string })
      .access_token;
    const remaining: number[] = [];
    for (let n = 0; n < REQUEST_LIMIT; n++) {
      const r = await call(n % 2, 'GET', '/api/v1/auth/me', token);
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBe(String(REQUEST_LIMIT));
      remaining.push(Number(r.headers.get('ratelimit-remaining')));
    }
    expect(remaining).toEqual(Array.from({ length: REQUEST_LIMIT }, (_, n) => REQUEST_LIMIT - 1 - n));
    for (const i of [0, 1]) {
      const over = await call(i, 'GET', '/api/v1/auth/me', token);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(over.headers.get('content-type')).toContain('application/problem+json');
      expect(over.body.detail).toMatch(/RATE_LIMIT_REQUESTS/);
    }
    // Another caller is not affected.
    expect((await call(0, 'GET', '/api/v1/auth/me', admin)).status).toBe(200);
  });
});
