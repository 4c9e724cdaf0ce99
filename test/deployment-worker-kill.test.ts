import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { removeGuard } from '../runtime/network-guard.js';
import { callWithKey, createTestDatabase, isAlive, makeBotsDir, waitFor } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';

const ADMIN_KEY = `kill-admin-${randomUUID()}`;

/**
 * A deployment is a workflow: the worker that runs it may die (SIGKILL) in
 * the middle of the gate, and the one that comes after finishes it where it
 * was, with no second rollout and no phase lost or written twice.
 */
describe('deployment with its worker killed during verifying', () => {
  const workers: ChildProcess[] = [];
  let apiProcess: ChildProcess;
  let root: string;
  let api: string;
  let dropDb: () => Promise<void>;
  let shared: Record<string, string>;
  const id = `killed-${randomUUID().slice(0, 8)}`;

  const spawnEntry = (entry: 'api' | 'worker', env: Record<string, string>) =>
    spawn(process.execPath, [path.join(projectRoot(), 'dist', 'bin', `${entry}.js`)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...shared, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const startWorker = () => {
    const w = spawnEntry('worker', {
      API_PUBLIC_URL: api,
      DATA_DIR: path.join(root, 'worker-data'),
      LOGS_DIR: path.join(root, 'worker-logs'),
    });
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-kill-'));
    const botsDir = await makeBotsDir(root);
    const db = await createTestDatabase();
    dropDb = () => db.drop();
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    shared = {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `kill-${randomUUID()}`,
      API_SECRET_KEY: 'k'.repeat(64),
      BOTS_DIR: botsDir,
      ARTIFACTS_DIR: path.join(root, 'artifacts'),
    };
    apiProcess = spawnEntry('api', {
      API_PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      DATA_DIR: path.join(root, 'api-data'),
      LOGS_DIR: path.join(root, 'api-logs'),
    });
    await waitFor(async () => (await fetch(`${api}/health/ready`)).status === 200, 'the API ready', 60_000, 200);
    startWorker();
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
    for (const child of [...workers, apiProcess]) child?.kill('SIGTERM');
    await Promise.all(
      [...workers, apiProcess].map(
        (c) => new Promise((r) => (!c || c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))),
      ),
    );
    await removeGuard(path.join(root, 'worker-data'), process.env.PATH);
    await dropDb?.();
    await fs.rm(root, { recursive: true, force: true });
  });

  const call = (method: string, p: string, body?: unknown) => callWithKey(api, ADMIN_KEY, method, p, body);
  const bot = async () => (await call('GET', `/api/v1/bots/${id}`)).body;

  it('ends as it would have: succeeded, its steps once each, the new instance the only rollout', async () => {
    expect(
      (
        await call('POST', '/api/v1/bots', {
          id,
          name: id,
          blueprint: 'build.mjs',
          args: ['good'],
          heartbeat_interval_seconds: 1,
        })
      ).status,
    ).toBe(201);
    await waitFor(async () => (await call('POST', `/api/v1/bots/${id}/start`)).status === 202, 'started', 60_000, 500);
    const first = await waitFor(
      async () => ((await bot()).status === 'running' ? bot() : undefined),
      'running',
      30_000,
    );

    const d = await call('POST', '/api/v1/deployments', {
      bot_id: id,
      args: ['good', '--build', '2'],
      health_gate: { min_healthy_seconds: 8, progress_deadline_seconds: 90 },
    });
    expect(d.status).toBe(202);
    // Verifying, with the new revision's instance up: the gate's timer runs.
    const up = await waitFor(async () => {
      const [b, dep] = await Promise.all([bot(), call('GET', `/api/v1/deployments/${d.body.id}`)]);
      return dep.body.phase === 'verifying' && b.status === 'running' && b.pid !== first.pid ? b : undefined;
    }, 'verifying with revision 2 up');
    const restarts = up.restart_count;

    const [worker] = workers;
    worker!.kill('SIGKILL');
    await new Promise((r) => worker!.once('exit', r));
    expect(isAlive(up.pid)).toBe(true);
    startWorker();

    const done = await waitFor(
      async () => {
        const r = await call('GET', `/api/v1/deployments/${d.body.id}?wait=30`);
        return r.body.outcome ? r.body : undefined;
      },
      'the deployment ended',
      120_000,
      500,
    );
    expect(done).toMatchObject({ phase: 'succeeded', outcome: 'succeeded', revision: 2 });
    expect(done.steps.map((s: { phase: string }) => s.phase)).toEqual([
      'pending',
      'applying',
      'verifying',
      'succeeded',
    ]);
    const after = await bot();
    // The same instance the gate watched: nothing rolled out twice.
    expect(after).toMatchObject({ status: 'running', revision: 2, pid: up.pid, restart_count: restarts });
    const revisions = (await call('GET', `/api/v1/bots/${id}/revisions`)).body.revisions;
    expect(revisions.map((r: { revision: number; healthy: boolean }) => [r.revision, r.healthy])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect((await call('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
  });
});
