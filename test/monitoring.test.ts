import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPlatform, type Platform } from '../bin/platform.js';
import { createLogger } from '../lib/logger.js';
import { freePort } from '../lib/scratch.js';
import { MinuteRollups } from '../monitoring/rollups.js';
import { minuteHistory, pruneRollups } from '../registry/metrics.js';
import { MemorySampleStore, type Sample } from '../monitoring/sample-store.js';
import { isAlive, startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

const sample = (at: number, cpu: number, mem: number): Sample => ({
  at,
  instance_id: 'i-1',
  cpu_load: cpu,
  memory_usage_mb: mem,
  uptime_seconds: at / 1000,
  error_rate: null,
});

/** A Redis server of this test's own, so that it can be stopped and started again without touching anyone else's. */
function redisServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  return waitFor(
    async () => {
      const { Redis } = await import('ioredis');
      const probe = new Redis(port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG' ? child : undefined;
      } finally {
        probe.disconnect();
      }
    },
    `redis-server on ${port}`,
    10_000,
    100,
  );
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

describe('the sample store keeps the recent past at full resolution', () => {
  it('trims to its horizon, and answers latest and history', async () => {
    const store = new MemorySampleStore(60_000);
    await store.record([['a', sample(1_000, 1, 10)]]);
    await store.record([
      ['a', sample(30_000, 2, 11)],
      ['b', sample(30_000, 5, 50)],
    ]);
    await store.record([['a', sample(70_000, 3, 12)]]);
    expect((await store.history('a', 0)).map((s) => s.at)).toEqual([30_000, 70_000]);
    expect((await store.history('a', 50_000)).map((s) => s.at)).toEqual([70_000]);
    expect([...(await store.latest(['a', 'b', 'c'])).entries()].map(([id, s]) => [id, s.cpu_load])).toEqual([
      ['a', 3],
      ['b', 5],
    ]);
    await store.forget('a');
    expect(await store.history('a', 0)).toEqual([]);
  });
});

describe('bot figures: sampling, history, rollups, /metrics, Redis stopped and started again', () => {
  let t: TestPlatform;
  let redis: ChildProcess;
  let redisPort: number;
  beforeAll(async () => {
    redisPort = await freePort();
    redis = await redisServer(redisPort);
    t = await startTestPlatform('postgres', {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      BOT_SAMPLE_INTERVAL_SECONDS: '0.5',
    });
  });
  afterAll(async () => {
    await t?.close();
    if (redis) await stopProcess(redis);
  });

  const history = async (id: string, window = '1m') =>
    (await t.request('GET', `/api/v1/bots/${id}/history?window=${window}`)).body;

  it('samples every running bot: history, the latest figures in /metrics, and an API process of its own sees them too', async () => {
    const id = t.uniqueId('sampled');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const h = await waitFor(
      async () => {
        const body = await history(id);
        return body.samples?.length >= 3 ? body : undefined;
      },
      'three samples',
      15_000,
    );
    expect(h.bot_id).toBe(id);
    const points = h.samples as Array<{
      at: string;
      memory_usage_mb: number;
      uptime_seconds: number;
      cpu_load: number;
      span_seconds: number;
    }>;
    // The first is the launch's own sample, which may catch the process while its interpreter still loads (a few MB).
    expect(points.every((p) => p.memory_usage_mb > 0 && p.cpu_load >= 0 && p.span_seconds === 0.5)).toBe(true);
    expect(points.slice(1).every((p) => p.memory_usage_mb > 5)).toBe(true);
    expect(points.map((p) => p.at)).toEqual([...points.map((p) => p.at)].sort());
    expect(points.at(-1)!.uptime_seconds).toBeGreaterThan(points[0]!.uptime_seconds);
    expect(h.stats.points).toBe(points.length);

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`codex32_bot_memory_bytes\\{bot_id="${id}"\\} [1-9]\\d+`));
    expect(metrics).toMatch(new RegExp(`codex32_bot_uptime_seconds\\{bot_id="${id}"\\} `));
    expect(metrics).toMatch(new RegExp(`codex32_bot_restarts\\{bot_id="${id}"\\} 0`));

    // Another API process (as in production: npm run api) reads the same figures from Redis.
    const other: Platform = await startPlatform({
      config: { ...t.config, API_PORT: 0 },
      logger: createLogger({ LOG_LEVEL: 'warn', NODE_ENV: 'test' }, 'second-api'),
      temporalAddress: inject('temporalAddress'),
      api: true,
      worker: false,
    });
    try {
      const res = await fetch(`${other.apiUrl}/api/v1/bots/${id}/history?window=1m`, {
        headers: { 'X-API-Key': t.adminKey },
      });
      const body = (await res.json()) as { samples: unknown[] };
      expect(body.samples.length).toBeGreaterThanOrEqual(points.length);
    } finally {
      await other.close();
    }
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('per-minute rollups merge across writers, serve long windows, and are pruned after the retention', async () => {
    const id = t.uniqueId('rolled');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    const db = t.platform.registry.db;
    const base = Math.floor((Date.now() - 3 * 3_600_000) / 60_000) * 60_000;
    const a = new MinuteRollups(db);
    await a.add([
      [id, sample(base + 1_000, 10, 100)],
      [id, sample(base + 20_000, 30, 120)],
    ]);
    await a.add([[id, sample(base + 61_000, 50, 90)]]); // closes the first minute
    await a.flush();
    // A second writer (a restarted worker) adds to the same minute.
    const b = new MinuteRollups(db);
    await b.add([[id, sample(base + 40_000, 80, 60)]]);
    await b.flush();
    const rows = await minuteHistory(db, id, new Date(base));
    expect(
      rows.map((r) => [
        r.minute.getTime() - base,
        r.samples,
        Math.round(r.cpu_avg),
        r.cpu_max,
        Math.round(r.memory_avg_mb),
        r.memory_max_mb,
      ]),
    ).toEqual([
      [0, 3, 40, 80, 93, 120],
      [60_000, 1, 50, 50, 90, 90],
    ]);

    const long = await history(id, '4h');
    expect(long.samples.map((p: { span_seconds: number; cpu_max: number }) => [p.span_seconds, p.cpu_max])).toEqual([
      [60, 80],
      [60, 50],
    ]);
    for (const bad of ['0m', '15x', '5s', '-1h', '15d'])
      expect((await t.request('GET', `/api/v1/bots/${id}/history?window=${bad}`)).status, bad).toBe(422);
    expect((await t.request('GET', '/api/v1/bots/nobody-here/history')).status).toBe(404);

    const old = new MinuteRollups(db);
    await old.add([[id, sample(Date.now() - 20 * 86_400_000, 1, 1)]]);
    await old.flush();
    expect(await pruneRollups(db, 14)).toBe(1);
    expect((await minuteHistory(db, id, new Date(0))).length).toBe(2);
  });

  it('Redis stopped: bots are still managed, readiness says degraded; Redis back: figures are shared again', async () => {
    const id = t.uniqueId('redisless');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitFor(async () => (await history(id)).samples?.length >= 1, 'a sample', 15_000);

    await stopProcess(redis);
    const ready = await waitFor(
      async () => {
        const r = await t.anonymous('GET', '/health/ready');
        return r.body.status === 'degraded' ? r : undefined;
      },
      'readiness degraded',
      10_000,
    );
    expect(ready.status).toBe(200);
    expect(ready.body.checks.redis).toMatchObject({ ok: false, required: false });
    // The fleet is still managed, and figures go on in this process.
    const running = await t.request('GET', `/api/v1/bots/${id}`);
    expect(running.body.status).toBe('running');
    const before = (await history(id)).samples.length;
    await waitFor(async () => (await history(id)).samples.length > before, 'samples while Redis is down', 10_000);
    expect((await t.request('POST', `/api/v1/bots/${id}/restart`)).status).toBe(202);
    await waitFor(
      async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.restart_count === 1,
      'restarted without Redis',
      15_000,
    );

    redis = await redisServer(redisPort); // empty: as after a flush
    await waitFor(
      async () => (await t.anonymous('GET', '/health/ready')).body.status === 'ready',
      'readiness back to ready',
      15_000,
    );
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${t.url}/metrics`)).text();
        return text.includes(`codex32_bot_memory_bytes{bot_id="${id}"}`) ? text : undefined;
      },
      'figures in /metrics again',
      15_000,
    );
    expect(metrics).toContain(`codex32_bot_restarts{bot_id="${id}"} 1`);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    const pid = running.body.pid as number;
    await waitFor(async () => !isAlive(pid), 'the first process gone', 10_000);
  });

  it('a bot that grows past its memory limit is restarted, with an incident that names memory and shows the figures', async () => {
    const id = t.uniqueId('hog');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'hog.mjs',
      resources: { memory_limit_mb: 96 },
      heal_policy: { backoff_initial_seconds: 0.2 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const first = await waitFor(async () => {
      const b = (await t.request('GET', `/api/v1/bots/${id}`)).body;
      return b.status === 'running' ? b : undefined;
    }, 'running');
    const incident = await waitFor(
      async () => {
        const list = (await t.request('GET', `/api/v1/incidents?bot_id=${id}&kind=memory_limit`)).body.incidents;
        return list.length ? list[0] : undefined;
      },
      'a memory_limit incident',
      20_000,
    );
    expect(incident.severity).toBe('warning');
    expect(incident.message).toMatch(/over its memory_limit_mb of 96/);
    expect(incident.evidence).toMatchObject({ metric: 'memory_usage_mb', limit: 96, pid: first.pid });
    expect(incident.evidence.value).toBeGreaterThan(96);
    expect(incident.evidence.last_log_lines.some((l: string) => l.startsWith('holding'))).toBe(true);
    expect(incident.outcome).toMatch(/^restart 1 of at most 5/);
    const again = await waitFor(
      async () => {
        const b = (await t.request('GET', `/api/v1/bots/${id}`)).body;
        return b.status === 'running' && b.pid !== first.pid ? b : undefined;
      },
      'running again with a new process',
      20_000,
    );
    expect(again.restart_count).toBeGreaterThanOrEqual(1);
    expect(isAlive(first.pid)).toBe(false);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'stopped', 'stopped');
  });
});
