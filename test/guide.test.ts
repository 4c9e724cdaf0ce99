import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_PERMISSIONS, type Permission } from '../lib/permissions.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

/**
 * The guide and the dashboard's JSON on a fresh platform: the checklist
 * starts empty and advances as each step is really done; what each role is
 * told to do next is always a request it may send.
 */
describe('guide: hello, onboarding, status; the dashboard JSON; blueprints', () => {
  let t: TestPlatform;
  const as = new Map<string, Record<string, string>>();
  const PASSWORD = 'Guide-Passw0rd-42';

  beforeAll(async () => {
    t = await startTestPlatform('postgres', { BOT_SAMPLE_INTERVAL_SECONDS: '0.5' });
    for (const role of ['operator', 'viewer', 'user'] as const) {
      expect(
        (await t.request('POST', '/api/v1/users', { username: `guide-${role}`, password: PASSWORD, role })).status,
      ).toBe(201);
      const login = await t.request('POST', '/api/v1/auth/login', { username: `guide-${role}`, password: PASSWORD });
      as.set(role, { Authorization: `Bearer ${login.body.access_token}` });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = async (p: string, who?: string) => {
    const r = await t.request('GET', p, undefined, who ? as.get(who) : undefined);
    expect(r.status, `${p} as ${who ?? 'admin'}: ${JSON.stringify(r.body)}`).toBe(200);
    return r.body;
  };
  const onboarding = async () =>
    (await get('/api/v1/guide/onboarding')) as {
      steps: Array<{ id: string; done: boolean; yours: boolean; request: { method: string; path: string } | null }>;
      done: number;
      total: number;
      complete: boolean;
      next: string | null;
    };
  const doneSteps = async () => (await onboarding()).steps.filter((s) => s.done).map((s) => s.id);

  /** A suggested request is allowed for a role when the role holds what the route asks (checked by sending it if it is a GET). */
  async function expectAllowed(who: string, request: { method: string; path: string } | null) {
    if (!request) return;
    if (request.method === 'GET') {
      const r = await t.request('GET', request.path, undefined, as.get(who));
      expect(r.status, `${who} was told to GET ${request.path}`).toBe(200);
    } else {
      const perms = ROLE_PERMISSIONS[who as keyof typeof ROLE_PERMISSIONS] as readonly Permission[];
      expect(
        perms.some((p) => p.startsWith('bots:') && p !== 'bots:read' && p !== 'bots:logs'),
        `${who} was told to ${request.method} ${request.path}`,
      ).toBe(true);
    }
  }

  it('a fresh platform: nothing done, and hello points at registering a first bot', async () => {
    const o = await onboarding();
    expect(o).toMatchObject({ done: 0, total: 7, complete: false, next: 'bot_registered' });
    expect(o.steps.map((s) => s.id)).toEqual([
      'bot_registered',
      'bot_started',
      'bot_running',
      'heartbeats',
      'incident_seen',
      'ci_key_minted',
      'deployment_made',
    ]);
    // The heartbeat is the bot's own request: no person's.
    expect(o.steps.find((s) => s.id === 'heartbeats')).toMatchObject({
      yours: false,
      request: { method: 'POST', path: '/api/v1/self/heartbeat' },
    });

    const hello = await get('/api/v1/guide/hello');
    expect(hello.you).toMatchObject({ type: 'api-key', role: 'admin' });
    expect(hello.platform).toMatchObject({
      runtime: 'local',
      bots: 0,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    expect(hello.next).toHaveLength(3);
    expect(hello.next[0]).toMatchObject({
      id: 'register_first_bot',
      request: { method: 'POST', path: '/api/v1/bots', body: { blueprint: expect.any(String) } },
      console: '/#/new-bot',
    });
    expect(hello.onboarding_complete).toBe(false);
    // The suggested body registers a bot as it stands.
    const body = { ...hello.next[0].request.body, id: t.uniqueId('suggested') };
    expect((await t.request('POST', '/api/v1/bots', body)).status).toBe(201);
    expect((await t.request('DELETE', `/api/v1/bots/${body.id}`)).status).toBe(200);
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${body.id}`)).status === 404, 'deleted');
  });

  it('each role is told only what it may do; a plain user and a viewer see no changes suggested', async () => {
    for (const who of ['operator', 'viewer', 'user']) {
      const hello = await get('/api/v1/guide/hello', who);
      expect(hello.you).toMatchObject({ type: 'user', name: `guide-${who}`, role: who });
      expect(hello.you.permissions).toEqual([...ROLE_PERMISSIONS[who as 'viewer']].sort());
      for (const step of hello.next) await expectAllowed(who, step.request);
      if (who !== 'operator')
        expect(
          hello.next.every((s: { request: { method: string } | null }) => !s.request || s.request.method === 'GET'),
        ).toBe(true);
      const o = await get('/api/v1/guide/onboarding', who);
      expect(o.steps.find((s: { id: string }) => s.id === 'bot_registered').yours).toBe(who === 'operator');
    }
    // A key that can only deploy is greeted, but not shown the fleet's inventory.
    const ci = await t.request('POST', '/api/v1/api-keys', { name: 'guide-ci', permissions: ['deployments:create'] });
    const ciHello = await t.request('GET', '/api/v1/guide/hello', undefined, { 'X-API-Key': ci.body.key });
    expect(ciHello.status).toBe(200);
    expect(ciHello.body.platform).toMatchObject({ bots: null, by_status: null });
    expect(JSON.stringify(ciHello.body.next)).not.toMatch(/\/api\/v1\/bots/);
    expect((await t.request('DELETE', `/api/v1/api-keys/${ci.body.id}`)).status).toBe(200);
    const refused = await t.anonymous('GET', '/api/v1/guide/hello');
    expect(refused.status).toBe(401);
  });

  it('the checklist advances as each step is done, up to complete', async () => {
    const id = t.uniqueId('onboard');
    const control = path.join(t.root, `${id}.control.json`);
    await fs.writeFile(control, JSON.stringify({ silent: true }));
    await fs.chmod(control, 0o644);
    expect(
      (
        await t.request('POST', '/api/v1/bots', {
          id,
          name: id,
          blueprint: 'puppet.mjs',
          env: { CONTROL_FILE: control, BEAT_MS: '300' },
          heal_policy: { backoff_initial_seconds: 0.2 },
        })
      ).status,
    ).toBe(201);
    expect(await doneSteps()).toEqual(['bot_registered']);
    const hello = await get('/api/v1/guide/hello');
    expect(hello.next.map((s: { id: string }) => s.id)).toContain('start_bot');
    expect(hello.next.find((s: { id: string }) => s.id === 'start_bot').request).toEqual({
      method: 'POST',
      path: `/api/v1/bots/${id}/start`,
    });

    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const running = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    await waitFor(async () => (await doneSteps()).includes('bot_running'), 'bot_running done');
    expect(await doneSteps()).toEqual(['bot_registered', 'bot_started', 'bot_running']);

    await fs.writeFile(control, JSON.stringify({}));
    await waitFor(async () => (await doneSteps()).includes('heartbeats'), 'heartbeats done');

    const beating = await waitForBot(t, id, 'a heartbeat', (b) => b.last_heartbeat_at !== null);
    expect(Date.now() - Date.parse(beating.last_heartbeat_at)).toBeLessThan(5_000);
    expect(beating.open_incidents).toBe(0);

    process.kill(running.pid, 'SIGKILL');
    await waitFor(async () => (await doneSteps()).includes('incident_seen'), 'incident_seen done');
    // The bot and the list count its unresolved incident, for callers who may read incidents.
    expect((await get(`/api/v1/bots/${id}`)).open_incidents).toBe(1);
    const listed = (await get('/api/v1/bots?limit=1000')).bots.find((b: { bot_id: string }) => b.bot_id === id);
    expect(listed.open_incidents).toBe(1);
    expect((await get(`/api/v1/bots/${id}`, 'user')).open_incidents).toBeNull();

    // A key with a role is not a CI key: only a key narrowed to deploying counts.
    expect((await t.request('POST', '/api/v1/api-keys', { name: 'wide', role: 'operator' })).status).toBe(201);
    expect(await doneSteps()).not.toContain('ci_key_minted');
    const ci = await t.request('POST', '/api/v1/api-keys', {
      name: 'ci',
      permissions: ['deployments:create', 'deployments:read'],
    });
    expect(ci.status).toBe(201);
    expect(await doneSteps()).toContain('ci_key_minted');

    await waitForBot(t, id, 'running again', (b) => b.status === 'running');
    const deployed = await t.request(
      'POST',
      '/api/v1/deployments',
      { bot_id: id, ref: 'v1' },
      { 'X-API-Key': ci.body.key },
    );
    expect(deployed.status).toBe(202);
    await waitFor(async () => (await onboarding()).complete, 'the checklist complete', 10_000).catch(async (err) => {
      throw new Error(
        `${(err as Error).message}: ${JSON.stringify((await onboarding()).steps.filter((s) => !s.done))}`,
      );
    });
    const o = await onboarding();
    expect(o).toMatchObject({ done: 7, total: 7, complete: true, next: null });
    expect((await get('/api/v1/guide/hello')).onboarding_complete).toBe(true);
  });

  it('status: every dependency checked, the fleet assessed with why, the top recommendations', async () => {
    const s = await get('/api/v1/guide/status', 'viewer');
    expect(s.platform.status).toBe('healthy');
    expect(s.platform.checks.database).toMatchObject({ ok: true });
    expect(s.platform.checks.temporal).toMatchObject({ ok: true });
    expect(s.platform.checks.worker).toMatchObject({ ok: true, pollers: expect.any(Number) });
    expect(s.platform.checks.worker.pollers).toBeGreaterThanOrEqual(1);
    expect(s.platform.checks.redis).toMatchObject({ ok: true });
    expect(s.platform.checks.voice).toMatchObject({ ok: expect.any(Boolean), detail: expect.any(String) });
    expect(['healthy', 'degraded']).toContain(s.fleet.assessment);

    // A bot that cannot stay up: the fleet turns critical, and says why.
    const id = t.uniqueId('doomed');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'crash.sh',
      heal_policy: { max_restarts: 1, backoff_initial_seconds: 0.1, backoff_jitter: 0 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'failed', (b) => b.status === 'failed');
    const after = await get('/api/v1/guide/status');
    expect(after.fleet.assessment).toBe('critical');
    expect(after.fleet.why[0]).toMatch(/^1 bot failed/);
    expect(after.fleet.by_status.failed).toBe(1);
    expect(after.recommendations[0]).toMatchObject({ rule: 'crash_loop', bot_id: id, severity: 'critical' });
    const hello = await get('/api/v1/guide/hello');
    expect(hello.next[0]).toMatchObject({
      id: `recommendation:crash_loop:${id}`,
      request: { method: 'GET', path: `/api/v1/bots/${id}/logs?tail=100` },
    });
    // A plain user cannot read logs: its first step is not that request.
    const userHello = await get('/api/v1/guide/hello', 'user');
    for (const step of userHello.next) await expectAllowed('user', step.request);
  });

  it('GET /api/v1/dashboard: inventory, health, recommendations and quick actions, fitted to the caller', async () => {
    const d = await get('/api/v1/dashboard');
    const bots = (await get('/api/v1/bots?limit=1000')).bots as Array<{ status: string; role: string }>;
    expect(d.inventory.total).toBe(bots.length);
    for (const status of ['running', 'failed', 'stopped', 'registered'])
      expect(d.inventory.by_status[status], status).toBe(bots.filter((b) => b.status === status).length);
    expect(d.inventory.by_runtime).toEqual({ local: bots.length, kubernetes: 0 });
    expect(d.inventory.open_incidents).toBeGreaterThanOrEqual(1);
    expect(d.health.assessment).toBe('critical');
    expect(d.recommendations.length).toBeGreaterThanOrEqual(1);
    expect(d.quick_actions.length).toBeGreaterThanOrEqual(1);
    const userView = await get('/api/v1/dashboard', 'user');
    expect(userView.inventory.open_incidents).toBeNull();
    for (const step of userView.quick_actions) await expectAllowed('user', step.request);
  });

  it('GET /api/v1/blueprints: the runnable files under BOTS_DIR, each registrable', async () => {
    const b = await get('/api/v1/blueprints');
    const paths = b.blueprints.map((x: { path: string }) => x.path);
    expect(paths).toEqual(
      expect.arrayContaining(['sleeper.mjs', 'sleeper.py', 'crash.sh', 'runnable', 'nested/inner.sh']),
    );
    expect(paths).not.toContain('notes.txt');
    expect(b.blueprints.find((x: { path: string }) => x.path === 'sleeper.py')).toMatchObject({ runs_with: 'python3' });
    expect(b.blueprints.find((x: { path: string }) => x.path === 'runnable')).toMatchObject({
      runs_with: 'executable',
    });
    expect(b.total).toBe(paths.length);
    expect(b.truncated).toBe(false);
    expect((await t.request('GET', '/api/v1/blueprints', undefined, as.get('viewer'))).status).toBe(403);
  });
});
