import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recommend, type RecommendationInput } from '../api/views/recommendations.js';
import { DEFAULT_HEAL_POLICY } from '../lib/bot-status.js';
import type { BotRow, IncidentRow } from '../registry/database.js';
import { isAlive, startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

describe('knowledge and recommendations on a real fleet', () => {
  let t: TestPlatform;
  let userKey: string;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', { BOT_SAMPLE_INTERVAL_SECONDS: '0.5' });
    const minted = await t.request('POST', '/api/v1/api-keys', { name: 'plain user', role: 'user' });
    expect(minted.status).toBe(201);
    userKey = minted.body.key;
  });
  afterAll(async () => {
    await t?.close();
  });

  const bot = async (id: string) => (await t.request('GET', `/api/v1/bots/${id}`)).body;
  const until = (id: string, what: string, ok: (b: any) => boolean, timeoutMs?: number) =>
    waitForBot(t, id, what, ok, timeoutMs);
  const recommendations = async (query = '', headers?: Record<string, string>) =>
    (await t.request('GET', `/api/v1/guide/recommendations${query}`, undefined, headers)).body;

  it('GET /bots/{id}/knowledge: config, workflow, figures, incidents and restarts, and a summary in words', async () => {
    const id = t.uniqueId('known');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      resources: { memory_limit_mb: 512 },
      heal_policy: { backoff_initial_seconds: 0.1 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const first = await until(id, 'running', (b) => b.status === 'running');
    await waitFor(
      async () => (await t.request('GET', `/api/v1/bots/${id}/history?window=1m`)).body.samples.length >= 2,
      'two samples',
    );
    process.kill(first.pid, 'SIGKILL');
    const second = await until(id, 'running again', (b) => b.status === 'running' && b.pid !== first.pid);
    await waitFor(
      async () => (await t.request('GET', `/api/v1/bots/${id}/history?window=1m`)).body.samples.length >= 4,
      'more samples',
    );

    const k = (await t.request('GET', `/api/v1/bots/${id}/knowledge?window=10m`)).body;
    expect(k).toMatchObject({
      bot_id: id,
      window: '10m',
      status: 'running',
      status_reason: null,
      restart_count: 1,
      config: { bot_id: id, status: 'running', pid: second.pid, resources: { memory_limit_mb: 512 } },
    });
    expect(k.workflow).toEqual({ conditions: [], heal_restarts_in_window: 1, next_restart_at: null });
    expect(k.performance.points).toBeGreaterThanOrEqual(4);
    expect(k.performance.memory_usage_mb.max).toBeGreaterThan(5);
    expect(k.performance.memory_usage_mb).toMatchObject({ limit: 512 });
    expect(k.performance.memory_usage_mb.percent_of_limit).toBeCloseTo(
      (k.performance.memory_usage_mb.max / 512) * 100,
      0,
    );
    expect(k.performance.cpu_load.avg).toBeGreaterThanOrEqual(0);
    expect(k.performance.heartbeat).toBeNull();
    expect(k.incidents).toMatchObject({ in_window: 1, unresolved: 1, by_kind: { process_exited: 1 } });
    expect(k.incidents.recent[0]).toMatchObject({
      kind: 'process_exited',
      evidence: { signal: 'SIGKILL', pid: first.pid },
    });
    expect(k.restarts.total).toBe(1);
    expect(k.restarts.instances_started_in_window).toBe(2);
    expect(k.restarts.recent_instances.map((i: { pid: number }) => i.pid)).toEqual([second.pid, first.pid]);
    expect(k.restarts.recent_instances[1]).toMatchObject({ exit_signal: 'SIGKILL', ended_at: expect.any(String) });
    expect(k.summary).toMatch(
      new RegExp(
        `^${id} is running \\(pid ${second.pid}, up \\d+s\\)\\. Over the last 10m: CPU [\\d.]+% of a core on average`,
      ),
    );
    expect(k.summary).toMatch(/% of its 512 MB limit\)/);
    expect(k.summary).toMatch(
      /1 incidents in the last 10m \(1 process_exited\); 1 unresolved in all\. Restarted 1 times in all; 2 processes started/,
    );

    // A plain user reads the bot, not its incidents.
    const asUser = (await t.request('GET', `/api/v1/bots/${id}/knowledge`, undefined, { 'X-API-Key': userKey })).body;
    expect(asUser.window).toBe('1h');
    expect(asUser.incidents).toBeNull();
    expect(asUser.summary).not.toMatch(/incidents/);

    for (const bad of ['15x', '0m', '30d'])
      expect((await t.request('GET', `/api/v1/bots/${id}/knowledge?window=${bad}`)).status, bad).toBe(422);
    expect((await t.request('GET', '/api/v1/bots/nobody-here/knowledge')).status).toBe(404);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await until(id, 'stopped', (b) => b.status === 'stopped');
    const stopped = (await t.request('GET', `/api/v1/bots/${id}/knowledge`)).body;
    expect(stopped.summary).toMatch(new RegExp(`^${id} is stopped\\. `));
  });

  it('GET /guide/recommendations: a crash loop with its log lines, memory near its limit, a bot without a limit; filtered by severity and bot', async () => {
    const looping = t.uniqueId('looping');
    await t.request('POST', '/api/v1/bots', {
      id: looping,
      name: looping,
      blueprint: 'crash.sh',
      heal_policy: { max_restarts: 1, backoff_initial_seconds: 0.1 },
    });
    await t.request('POST', `/api/v1/bots/${looping}/start`);
    const hog = t.uniqueId('near');
    await t.request('POST', '/api/v1/bots', {
      id: hog,
      name: hog,
      blueprint: 'hog.mjs',
      resources: { memory_limit_mb: 450 },
    });
    await t.request('POST', `/api/v1/bots/${hog}/start`);
    const plain = t.uniqueId('unlimited');
    await t.request('POST', '/api/v1/bots', { id: plain, name: plain, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${plain}/start`);
    await until(looping, 'failed', (b) => b.status === 'failed');

    const all = await waitFor(
      async () => {
        const r = await recommendations();
        const ids = r.recommendations.map((x: { id: string }) => x.id);
        return ids.includes(`memory_near_limit:${hog}`) && ids.includes(`no_memory_limit:${plain}`) ? r : undefined;
      },
      'the hog near its limit (it holds 400 MB of 450)',
      30_000,
    );
    const byId = (id: string) => all.recommendations.find((r: { id: string }) => r.id === id);
    const loop = byId(`crash_loop:${looping}`);
    expect(loop).toMatchObject({ rule: 'crash_loop', severity: 'critical', bot_id: looping });
    expect(loop.evidence.last_log_lines).toContain('about to fail');
    expect(loop.actions.map((a: { method: string; path: string }) => `${a.method} ${a.path}`)).toEqual([
      `GET /api/v1/bots/${looping}/logs?tail=100`,
      `POST /api/v1/bots/${looping}/start`,
    ]);
    const near = byId(`memory_near_limit:${hog}`);
    expect(near.severity).toBe('warning');
    expect(near.evidence.memory_usage_mb).toBeGreaterThanOrEqual(360);
    expect(near.actions[0]).toMatchObject({
      method: 'PATCH',
      path: `/api/v1/bots/${hog}`,
      body: { resources: { memory_limit_mb: 688 } },
    });
    expect(byId(`no_memory_limit:${plain}`).severity).toBe('info');
    // Most severe first, and the stats count them all.
    const ranks = all.recommendations.map((r: { severity: string }) =>
      ['critical', 'warning', 'info'].indexOf(r.severity),
    );
    expect(ranks).toEqual([...ranks].sort());
    expect(all.stats.critical + all.stats.warning + all.stats.info).toBe(all.total);

    // The suggested action works as given.
    const patch = await t.request('PATCH', `/api/v1/bots/${hog}`, near.actions[0].body);
    expect(patch.status).toBe(200);
    expect(patch.body.resources.memory_limit_mb).toBe(688);

    const critical = await recommendations('?severity=critical');
    expect(critical.recommendations.every((r: { severity: string }) => r.severity === 'critical')).toBe(true);
    expect(critical.recommendations.some((r: { id: string }) => r.id === `crash_loop:${looping}`)).toBe(true);
    const one = await recommendations(`?bot_id=${looping}`);
    expect(one.recommendations.map((r: { id: string }) => r.id)).toEqual([`crash_loop:${looping}`]);
    // Without bots:logs, no log lines.
    const asUser = await recommendations(`?bot_id=${looping}`, { 'X-API-Key': userKey });
    expect(asUser.recommendations[0].evidence).not.toHaveProperty('last_log_lines');
    expect((await t.request('GET', '/api/v1/guide/recommendations?severity=urgent')).status).toBe(422);
    expect((await t.request('GET', '/api/v1/guide/recommendations?limit=0')).status).toBe(422);

    for (const id of [hog, plain]) await t.request('POST', `/api/v1/bots/${id}/stop`);
    const hogPid = (await bot(hog)).pid;
    await until(hog, 'stopped', (b) => b.status === 'stopped');
    if (hogPid) expect(isAlive(hogPid)).toBe(false);
  });
});

describe('recommendation rules', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const botRow = (id: string, over: Partial<BotRow> = {}): BotRow => ({
    id,
    name: id,
    description: '',
    role: 'general',
    blueprint: 'x.mjs',
    image: null,
    args: [],
    env: {},
    resources: {},
    heal_policy: DEFAULT_HEAL_POLICY,
    health_rules: {},
    heartbeat_interval_seconds: null,
    status: 'running',
    desired_state: 'running',
    status_reason: null,
    restart_count: 0,
    current_instance_id: 'i-1',
    revision: 1,
    artifact: null,
    entrypoint: null,
    created_at: new Date(now - 86_400_000),
    updated_at: new Date(now - 60_000),
    ...over,
  });
  const incident = (over: Partial<IncidentRow>): IncidentRow => ({
    id: 'inc-1',
    bot_id: 'a',
    instance_id: 'i-1',
    kind: 'process_exited',
    severity: 'warning',
    message: 'm',
    evidence: {},
    outcome: null,
    created_at: new Date(now - 60_000),
    acknowledged_at: null,
    acknowledged_by: null,
    resolved_at: null,
    resolved_by: null,
    resolution: null,
    ...over,
  });
  const input = (over: Partial<RecommendationInput>): RecommendationInput => ({
    bots: [],
    latest: new Map(),
    lastHour: [],
    failures: new Map(),
    unresolved: [],
    withLogLines: true,
    now,
    ...over,
  });
  const rules = (over: Partial<RecommendationInput>) => recommend(input(over)).map((r) => r.id);

  it('degraded for ten minutes or more, counted from its oldest open condition incident', () => {
    const bots = [botRow('a', { status: 'degraded', status_reason: 'has an error rate of 50%' })];
    const since = (ms: number) => [incident({ kind: 'error_rate', created_at: new Date(now - ms) })];
    expect(rules({ bots, unresolved: since(9 * 60_000) })).toEqual([]);
    const [r] = recommend(input({ bots, unresolved: since(12 * 60_000) }));
    expect(r).toMatchObject({
      id: 'degraded_for_long:a',
      severity: 'warning',
      title: 'a has been degraded for 12 minutes',
    });
    expect(r!.detail).toMatch(/^has an error rate of 50%/);
  });

  it('repeated memory restarts, heartbeat losses and exits within the hour; a critical incident nobody acknowledged', () => {
    const bots = [
      botRow('a', { resources: { memory_limit_mb: 100 } }),
      botRow('b', { heartbeat_interval_seconds: 5 }),
      botRow('c'),
    ];
    const lastHour = [
      { bot_id: 'a', kind: 'memory_limit', total: 2, unresolved: 2, last_at: new Date(now) },
      { bot_id: 'b', kind: 'heartbeat_lost', total: 2, unresolved: 2, last_at: new Date(now) },
      { bot_id: 'c', kind: 'process_exited', total: 2, unresolved: 2, last_at: new Date(now) },
    ];
    expect(rules({ bots, lastHour })).toEqual(['memory_restarts:a', 'heartbeat_trouble:b']);
    const more = lastHour.map((c) => (c.bot_id === 'c' ? { ...c, total: 3 } : c));
    const all = recommend(
      input({
        bots,
        lastHour: more,
        unresolved: [
          incident({ id: 'crit', bot_id: 'c', severity: 'critical', created_at: new Date(now - 20 * 60_000) }),
        ],
      }),
    );
    expect(all.map((r) => r.id)).toEqual([
      'memory_restarts:a',
      'heartbeat_trouble:b',
      'keeps_exiting:c',
      'unacknowledged_critical:crit',
    ]);
    expect(all[0]!.actions[0]!.body).toEqual({ resources: { memory_limit_mb: 160 } });
    expect(all[1]!.actions[1]!.body).toEqual({ heartbeat_interval_seconds: 10 });
    // Acknowledged, or recent: nothing to say.
    expect(
      rules({
        bots,
        unresolved: [
          incident({ severity: 'critical', acknowledged_at: new Date(now), created_at: new Date(now - 20 * 60_000) }),
        ],
      }),
    ).toEqual([]);
    expect(
      rules({ bots, unresolved: [incident({ severity: 'critical', created_at: new Date(now - 60_000) })] }),
    ).toEqual([]);
  });

  it('a failed bot gets what its last incident calls for, and log lines only for callers who may read logs', () => {
    const bots = [botRow('a', { status: 'failed' }), botRow('b', { status: 'failed' })];
    const failures = new Map([
      [
        'a',
        incident({
          kind: 'crash_loop',
          severity: 'critical',
          message: 'gave up',
          evidence: { last_log_lines: ['boom'], last_cause: 'process_exited' },
        }),
      ],
      [
        'b',
        incident({
          id: 'inc-2',
          bot_id: 'b',
          kind: 'launch_failed',
          severity: 'critical',
          message: 'launch failed: no such file',
        }),
      ],
    ]);
    const withLogs = recommend(input({ bots, failures }));
    expect(withLogs.map((r) => r.id)).toEqual(['crash_loop:a', 'launch_failed:b']);
    expect(withLogs[0]!.evidence.last_log_lines).toEqual(['boom']);
    expect(recommend(input({ bots, failures, withLogLines: false }))[0]!.evidence).not.toHaveProperty('last_log_lines');
  });
});
