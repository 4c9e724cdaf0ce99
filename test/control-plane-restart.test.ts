import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { createTestDatabase, isAlive, makeBotsDir, waitFor } from './helpers/platform.js';
import { freePort } from './helpers/ports.js';

/**
 * The whole control plane (API, worker and the Temporal dev server that `start`
 * launched) dies by SIGKILL while bots run. Bots must not notice; the next
 * start must take them back without restarting them, and keep healing them.
 */
describe('control plane killed with SIGKILL while bots run', () => {
  let root: string;
  let env: Record<string, string>;
  let api: string;
  let control: ChildProcess | undefined;
  let dropDb: () => Promise<void>;
  const botPids = new Set<number>();

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-cp-'));
    const botsDir = await makeBotsDir(root);
    const db = await createTestDatabase();
    dropDb = () => db.drop();
    const apiPort = await freePort();
    api = `http://127.0.0.1:${apiPort}`;
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: db.url,
      API_PORT: String(apiPort),
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      DATA_DIR: path.join(root, 'data'),
      LOGS_DIR: path.join(root, 'logs'),
      BOTS_DIR: botsDir,
      BOT_STOP_GRACE_SECONDS: '2',
      LOG_LEVEL: 'warn',
      ADMIN_API_KEY: 'control-plane-test-admin-key',
      RATE_LIMIT_REQUESTS: '1000000',
      // Recent figures live in Redis: they must outlive the processes that sampled and served them.
      REDIS_URL: process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379',
      BOT_SAMPLE_INTERVAL_SECONDS: '0.5',
    };
  });

  afterAll(async () => {
    if (control?.pid && isAlive(control.pid)) {
      control.kill('SIGTERM');
      await waitFor(async () => !isAlive(control!.pid!), 'control plane stopped', 30_000).catch(() =>
        control?.kill('SIGKILL'),
      );
    }
    await killDevServer();
    for (const pid of botPids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await dropDb?.();
    await fs.rm(root, { recursive: true, force: true });
  });

  async function startControlPlane() {
    control = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'bin', 'start.js')], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitFor(async () => (await fetch(`${api}/health/ready`)).status === 200, 'control plane ready', 90_000, 200);
  }

  async function devServerPid(): Promise<number> {
    return JSON.parse(await fs.readFile(path.join(env.DATA_DIR!, 'temporal.pid'), 'utf8')).pid as number;
  }

  async function killDevServer() {
    try {
      process.kill(await devServerPid(), 'SIGKILL');
    } catch {
      // not running
    }
  }

  const call = async (method: string, p: string, body?: unknown) => {
    const headers: Record<string, string> = {
      'X-API-Key': env.ADMIN_API_KEY!,
      ...(body ? { 'content-type': 'application/json' } : {}),
    };
    const res = await fetch(api + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as any };
  };
  const getBot = async (id: string) => (await call('GET', `/api/v1/bots/${id}`)).body;

  it('bots keep running, are re-adopted with the same pid, and are still watched', async () => {
    await startControlPlane();
    const ids = ['cp-node', 'cp-python', 'cp-shell', 'cp-dies-while-down'];
    const blueprints = ['sleeper.mjs', 'sleeper.py', 'nested/inner.sh', 'sleeper.mjs'];
    for (const [i, id] of ids.entries()) {
      expect(
        (
          await call('POST', '/api/v1/bots', {
            id,
            name: id,
            blueprint: blueprints[i],
            role: 'survivor',
            heal_policy: { backoff_initial_seconds: 0.2 },
          })
        ).status,
      ).toBe(201);
      expect((await call('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    }
    const before = new Map<string, any>();
    for (const id of ids) {
      const bot = await waitFor(async () => {
        const b = await getBot(id);
        return b.status === 'running' ? b : undefined;
      }, `${id} running`);
      before.set(id, bot);
      botPids.add(bot.pid);
    }

    const historyOf = async (id: string) =>
      ((await call('GET', `/api/v1/bots/${id}/history?window=5m`)).body.samples as Array<{ at: string }>).map(
        (p) => p.at,
      );
    const sampledBefore = await waitFor(async () => {
      const at = await historyOf('cp-node');
      return at.length >= 3 ? at : undefined;
    }, 'samples of cp-node');

    // SIGKILL the whole control plane: the start process (API + worker) and its Temporal dev server.
    const temporalPid = await devServerPid();
    control!.kill('SIGKILL');
    process.kill(temporalPid, 'SIGKILL');
    await waitFor(async () => !isAlive(control!.pid!) && !isAlive(temporalPid), 'control plane dead', 10_000);
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) expect(isAlive(before.get(id).pid), `${id} survived`).toBe(true);

    // One bot dies while nobody watches.
    process.kill(before.get('cp-dies-while-down').pid, 'SIGKILL');

    await startControlPlane();
    for (const id of ['cp-node', 'cp-python', 'cp-shell']) {
      const after = await getBot(id);
      expect(after.status).toBe('running');
      expect(after.pid).toBe(before.get(id).pid);
      expect(after.instance_id).toBe(before.get(id).instance_id);
      expect(after.restart_count).toBe(0);
    }
    // The figures sampled before are still there, and sampling goes on.
    const sampledAfter = await waitFor(async () => {
      const at = await historyOf('cp-node');
      return at.length > sampledBefore.length + 2 ? at : undefined;
    }, 'new samples of cp-node');
    expect(sampledAfter).toEqual(expect.arrayContaining(sampledBefore));
    // No workflow was lost, and each still knows its instance.
    const list = await call('GET', '/api/v1/bots?role=survivor');
    expect(list.body.total).toBe(ids.length);

    // The bot that died meanwhile is healed, with an incident that says when it died.
    const healed = await waitFor(
      async () => {
        const b = await getBot('cp-dies-while-down');
        return b.status === 'running' && b.pid !== before.get('cp-dies-while-down').pid ? b : undefined;
      },
      'bot that died while down restarted',
      20_000,
    );
    botPids.add(healed.pid);
    expect(healed.restart_count).toBe(1);
    const incidents = (await call('GET', '/api/v1/incidents?bot_id=cp-dies-while-down')).body.incidents;
    expect(incidents[0].message).toMatch(/ended while the control plane was down/);

    // Re-adopted bots are still watched: a kill is seen as an event and healed.
    const adopted = before.get('cp-node');
    process.kill(adopted.pid, 'SIGKILL');
    const replaced = await waitFor(
      async () => {
        const b = await getBot('cp-node');
        return b.status === 'running' && b.pid !== adopted.pid ? b : undefined;
      },
      're-adopted bot healed after a kill',
      20_000,
    );
    botPids.add(replaced.pid);
    expect(replaced.restart_count).toBe(1);
    const nodeIncidents = (await call('GET', '/api/v1/incidents?bot_id=cp-node')).body.incidents;
    expect(nodeIncidents).toHaveLength(1);
    expect(nodeIncidents[0].kind).toBe('process_exited');

    // Graceful stop still works on re-adopted bots (SIGTERM through the process group).
    expect((await call('POST', '/api/v1/bots/cp-python/stop')).status).toBe(202);
    await waitFor(async () => (await getBot('cp-python')).status === 'stopped', 'python bot stopped', 20_000);
    expect(isAlive(before.get('cp-python').pid)).toBe(false);
  });
});
