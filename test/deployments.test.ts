import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isAlive,
  registerBuildBot,
  startTestPlatform,
  waitFor,
  waitForBot,
  type TestPlatform,
} from './helpers/platform.js';

/** Short gates keep the suite quick; the rules are the same at any length. */
const GATE = { min_healthy_seconds: 2, progress_deadline_seconds: 10 };

describe('deployments: a new revision through the health gate, rolled back when it fails', () => {
  let t: TestPlatform;
  let ci: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    const minted = await t.request('POST', '/api/v1/api-keys', { name: 'ci-deployer', preset: 'deployer' });
    expect(minted.status).toBe(201);
    expect(minted.body.permissions.sort()).toEqual(
      ['artifacts:write', 'bots:read', 'deployments:create', 'deployments:read'].sort(),
    );
    ci = { 'X-API-Key': minted.body.key };
  });
  afterAll(async () => {
    await t?.close();
  });

  const bot = async (id: string) => (await t.request('GET', `/api/v1/bots/${id}`)).body;
  const register = (id: string) => registerBuildBot(t, id);
  const runningOn = async (id: string) => waitForBot(t, id, 'running', (b) => b.status === 'running');
  const deploy = (body: Record<string, unknown>, headers = ci) =>
    t.request('POST', '/api/v1/deployments', { health_gate: GATE, ...body }, headers);
  const outcome = async (deploymentId: string, headers = ci) => {
    const r = await t.request('GET', `/api/v1/deployments/${deploymentId}?wait=60`, undefined, headers);
    expect(r.status).toBe(200);
    return r.body;
  };

  it('a good build passes the gate: revision n+1 runs, healthy; a deployer key follows it and can do nothing else', async () => {
    const id = t.uniqueId('good');
    await register(id);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const before = await runningOn(id);
    expect(before.revision).toBe(1);

    const r = await deploy({ bot_id: id, ref: 'build-2', args: ['good', '--build', '2'] });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      bot_id: id,
      ref: 'build-2',
      phase: 'pending',
      revision: 2,
      previous_revision: 1,
      changes: ['args'],
      auto_rollback: true,
      requested_by: 'api-key:ci-deployer',
      workflow_id: `deployment-${r.body.id}`,
    });
    expect(r.body.next_steps.join('\n')).toContain(`GET /api/v1/deployments/${r.body.id}?wait=60`);
    const done = await outcome(r.body.id);
    expect(done).toMatchObject({ phase: 'succeeded', outcome: 'succeeded', revision: 2, rollback_revision: null });
    expect(done.steps.map((s: { phase: string }) => s.phase)).toEqual([
      'pending',
      'applying',
      'verifying',
      'succeeded',
    ]);
    const after = await bot(id);
    expect(after).toMatchObject({ status: 'running', revision: 2, args: ['good', '--build', '2'] });
    expect(after.pid).not.toBe(before.pid);
    expect(isAlive(before.pid)).toBe(false);

    // The deployer key reads its bot and its deployments, and nothing else.
    expect((await t.request('GET', `/api/v1/bots/${id}`, undefined, ci)).status).toBe(200);
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`, undefined, ci)).status).toBe(200);
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`, undefined, ci)).status).toBe(403);
    expect((await t.request('PATCH', `/api/v1/bots/${id}`, { args: [] }, ci)).status).toBe(403);
    expect((await t.request('GET', '/api/v1/users', undefined, ci)).status).toBe(403);

    const revisions = await t.request('GET', `/api/v1/bots/${id}/revisions`, undefined, ci);
    expect(revisions.status).toBe(200);
    expect(revisions.body.current).toBe(2);
    expect(
      revisions.body.revisions.map((v: any) => [v.revision, v.source, v.healthy, v.current, v.deployment_id]),
    ).toEqual([
      [2, 'deployment', true, true, r.body.id],
      [1, 'create', false, false, null],
    ]);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a build that exits at once is rolled back: the previous revision runs again in a new process, and an incident says why', async () => {
    const id = t.uniqueId('crashing');
    await register(id);
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const before = await runningOn(id);
    // Revision 1 ran healthy once it has been up 10 s; a gate passed counts at once.
    const good = await deploy({ bot_id: id, args: ['good', '--v', '2'] });
    expect((await outcome(good.body.id)).phase).toBe('succeeded');
    const healthy = await bot(id);

    const r = await deploy({ bot_id: id, ref: 'bad-build', args: ['crash'] });
    expect(r.status).toBe(202);
    const done = await outcome(r.body.id);
    expect(done).toMatchObject({
      phase: 'rolled_back',
      outcome: 'rolled_back',
      revision: 3,
      previous_revision: 2,
      rollback_revision: 4,
    });
    expect(done.reason).toMatch(/exit/);
    expect(done.evidence).toMatchObject({ rule: 'exited', exit_code: 7 });
    expect(done.evidence.last_log_lines.join('\n')).toContain('fatal: build crash cannot read its config');
    expect(done.steps.map((s: { phase: string }) => s.phase)).toEqual([
      'pending',
      'applying',
      'verifying',
      'rolling_back',
      'rolled_back',
    ]);
    const after = await bot(id);
    expect(after).toMatchObject({ status: 'running', revision: 4, args: ['good', '--v', '2'] });
    expect(after.pid).not.toBe(healthy.pid);
    expect(isAlive(healthy.pid)).toBe(false);
    expect(isAlive(after.pid)).toBe(true);
    expect(before.pid).not.toBe(after.pid);

    const incidents = await t.request('GET', `/api/v1/incidents?bot_id=${id}&kind=deployment_failed`);
    expect(incidents.body.incidents).toHaveLength(1);
    expect(incidents.body.incidents[0].evidence.last_log_lines.join('\n')).toContain('cannot read its config');

    const revisions = (await t.request('GET', `/api/v1/bots/${id}/revisions`)).body.revisions;
    expect(revisions.map((v: any) => [v.revision, v.source, v.restores, v.healthy])).toEqual([
      [4, 'rollback', 2, true],
      [3, 'deployment', null, false],
      [2, 'deployment', null, true],
      [1, 'create', null, false],
    ]);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a build whose heartbeats say 90 % of its requests fail is rolled back; so is one that never sends its first heartbeat, at the deadline', async () => {
    const id = t.uniqueId('erring');
    await register(id);
    const first = await deploy({ bot_id: id, args: ['good', '--v', '2'] });
    expect(first.body.previous_revision).toBe(1);
    expect((await outcome(first.body.id)).phase).toBe('succeeded');

    const erring = await deploy({ bot_id: id, args: ['errors'] });
    const e = await outcome(erring.body.id);
    expect(e.phase).toBe('rolled_back');
    expect(['error_rate', 'degraded']).toContain(e.evidence.rule);

    const started = Date.now();
    const silent = await deploy({
      bot_id: id,
      args: ['silent'],
      health_gate: { min_healthy_seconds: 1, progress_deadline_seconds: 4 },
    });
    const s = await outcome(silent.body.id);
    expect(s.phase).toBe('rolled_back');
    expect(['progress_deadline', 'heartbeat_lost']).toContain(s.evidence.rule);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    expect(await bot(id)).toMatchObject({ status: 'running', args: ['good', '--v', '2'] });
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('without auto_rollback a failed gate ends failed and leaves the bot as it is; with no healthy revision before, failed too', async () => {
    const id = t.uniqueId('norollback');
    await register(id);
    const r = await deploy({ bot_id: id, args: ['crash'], auto_rollback: false });
    const done = await outcome(r.body.id);
    expect(done).toMatchObject({ phase: 'failed', outcome: 'failed', rollback_revision: null });
    expect(done.reason).toMatch(/exit/);

    // Revision 1 never ran: nothing healthy to go back to.
    const again = await deploy({ bot_id: id, args: ['crash', '2'] });
    const d2 = await outcome(again.body.id);
    expect(d2.phase).toBe('failed');
    expect(d2.reason).toMatch(/no earlier healthy revision/);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('Idempotency-Key: the same body gives the same deployment (200), another body 422', async () => {
    const id = t.uniqueId('idem');
    await register(id);
    const key = { ...ci, 'Idempotency-Key': `run-${id}` };
    const body = { bot_id: id, ref: 'r1', args: ['good', '1'] };
    const a = await deploy(body, key);
    expect(a.status).toBe(202);
    const b = await deploy(body, key);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    const c = await deploy({ ...body, ref: 'r2' }, key);
    expect(c.status).toBe(422);
    expect(c.body.detail).toContain(a.body.id);
    await outcome(a.body.id);
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`)).body.total).toBe(1);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('one deployment per bot: another is 409 naming the active one, unless it supersedes it; cancel stops the gate and leaves the bot', async () => {
    const id = t.uniqueId('busy');
    await register(id);
    const slow = { min_healthy_seconds: 30, progress_deadline_seconds: 60 };
    const a = await deploy({ bot_id: id, args: ['good', 'a'], health_gate: slow });
    expect(a.status).toBe(202);
    const [b, c] = await Promise.all([
      deploy({ bot_id: id, args: ['good', 'b'] }),
      deploy({ bot_id: id, args: ['good', 'c'] }),
    ]);
    expect([b.status, c.status]).toEqual([409, 409]);
    expect(b.body.detail).toContain(a.body.id);

    const d = await deploy({ bot_id: id, args: ['good', 'd'], health_gate: slow, supersede: true });
    expect(d.status).toBe(202);
    const superseded = await outcome(a.body.id);
    expect(superseded).toMatchObject({ phase: 'superseded', outcome: 'superseded' });
    await waitFor(
      async () => (await t.request('GET', `/api/v1/deployments/${d.body.id}`)).body.phase === 'verifying',
      'verifying',
    );
    const cancelled = await t.request('POST', `/api/v1/deployments/${d.body.id}/cancel`, undefined, ci);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ phase: 'cancelled', outcome: 'cancelled' });
    const again = await t.request('POST', `/api/v1/deployments/${d.body.id}/cancel`, undefined, ci);
    expect(again.status).toBe(409);
    const left = await runningOn(id);
    expect(left.args).toEqual(['good', 'd']);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('PATCH makes a revision; rollback deploys an earlier one through the gate; PATCH waits while a deployment runs', async () => {
    const id = t.uniqueId('patched');
    await register(id);
    const p = await t.request('PATCH', `/api/v1/bots/${id}`, { args: ['good', 'patched'] });
    expect(p.status).toBe(200);
    expect(p.body.revision).toBe(2);
    // A name is not what runs: no revision.
    expect((await t.request('PATCH', `/api/v1/bots/${id}`, { name: 'renamed' })).body.revision).toBe(2);
    expect((await t.request('POST', `/api/v1/bots/${id}/rollback`, {})).status).toBe(409);

    const back = await t.request('POST', `/api/v1/bots/${id}/rollback`, { revision: 1, health_gate: GATE }, ci);
    expect(back.status).toBe(202);
    expect(back.body).toMatchObject({ revision: 3, previous_revision: 2 });
    const during = await t.request('PATCH', `/api/v1/bots/${id}`, { args: ['x'] });
    expect(during.status).toBe(409);
    expect(during.body.detail).toContain(back.body.id);
    expect((await outcome(back.body.id)).phase).toBe('succeeded');
    const revisions = (await t.request('GET', `/api/v1/bots/${id}/revisions`)).body.revisions;
    expect(revisions[0]).toMatchObject({ revision: 3, source: 'rollback', restores: 1, healthy: true, current: true });
    expect(revisions[0].spec.args).toEqual(['good']);
    expect(await bot(id)).toMatchObject({ status: 'running', revision: 3, args: ['good'] });
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('refuses bad deployments with what to do, and changes nothing', async () => {
    const id = t.uniqueId('deploy-bad');
    await register(id);
    const before = await bot(id);
    const cases: Array<[unknown, number, RegExp]> = [
      [{ bot_id: 'no-such-bot', args: [] }, 404, /Register it first with POST \/api\/v1\/bots/],
      [{ bot_id: id, blueprint: '../outside.sh' }, 422, /Nothing was changed/],
      [{ bot_id: id, blueprint: 'build.mjs', image: 'ghcr.io/acme/bot:1' }, 422, /at most one of/],
      [{ bot_id: id, name: 'renamed' }, 422, /name/],
      [{ bot_id: id, image: 'ghcr.io/acme/bot:2' }, 409, /BOT_RUNTIME=kubernetes/],
      [{ bot_id: id, ref: 'x'.repeat(201) }, 422, /ref/],
      [{ bot_id: id, artifact: 'sha256:' + 'a'.repeat(64) }, 422, /entrypoint/],
      [{ bot_id: id, artifact: 'sha256:' + 'a'.repeat(64), entrypoint: 'bot.py' }, 422, /has not been uploaded/],
      [
        { bot_id: id, health_gate: { min_healthy_seconds: 30, progress_deadline_seconds: 10 } },
        422,
        /min_healthy_seconds/,
      ],
      [{ bot_id: id, env: { TOKEN: 'x' } }, 403, /"bots:update"/],
    ];
    for (const [body, status, detail] of cases) {
      const r = await t.request('POST', '/api/v1/deployments', body, ci);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.detail).toMatch(detail);
    }
    const after = await bot(id);
    expect(after).toMatchObject({ blueprint: before.blueprint, args: before.args, revision: 1, status: 'registered' });
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`)).body.total).toBe(0);
    expect((await t.request('GET', '/api/v1/deployments/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('a key limited to some bots deploys and reads those, and sees no other', async () => {
    const mine = t.uniqueId('mine');
    const other = t.uniqueId('other');
    await register(mine);
    await register(other);
    const minted = await t.request('POST', '/api/v1/api-keys', { name: 'ci-mine', preset: 'deployer', bots: [mine] });
    expect(minted.status).toBe(201);
    expect(minted.body.bots).toEqual([mine]);
    const key = { 'X-API-Key': minted.body.key };
    expect((await t.request('GET', `/api/v1/bots/${other}`, undefined, key)).status).toBe(403);
    expect((await t.request('GET', `/api/v1/bots/${other}/revisions`, undefined, key)).status).toBe(403);
    expect((await deploy({ bot_id: other, args: ['good'] }, key)).status).toBe(403);
    const list = await t.request('GET', '/api/v1/bots', undefined, key);
    expect(list.body.bots.map((b: { bot_id: string }) => b.bot_id)).toEqual([mine]);
    // Even with bots:create, a limited key registers nothing: a new bot would be beyond its reach.
    const creator = await t.request('POST', '/api/v1/api-keys', {
      name: 'ci-mine-create',
      permissions: ['bots:create', 'bots:read'],
      bots: [mine],
    });
    const made = await t.request(
      'POST',
      '/api/v1/bots',
      { id: t.uniqueId('sneaky'), name: 'x', blueprint: 'build.mjs' },
      { 'X-API-Key': creator.body.key },
    );
    expect(made.status).toBe(403);
    expect(made.body.detail).toMatch(/cannot register bots/);
    // Nor does it manage keys, whatever its permissions say: it reaches its bots and their deployments only.
    const minter = await t.request('POST', '/api/v1/api-keys', {
      name: 'ci-mine-minter',
      permissions: ['api-keys:manage', 'deployments:create', 'deployments:read', 'artifacts:write', 'bots:read'],
      bots: [mine],
    });
    const asMinter = { 'X-API-Key': minter.body.key };
    for (const body of [
      { name: 'x', preset: 'deployer', bots: [other] },
      { name: 'y', preset: 'deployer', bots: [mine] },
    ]) {
      const r = await t.request('POST', '/api/v1/api-keys', body, asMinter);
      expect(r.status).toBe(403);
      expect(r.body.detail).toMatch(/limited to one bot/);
    }
    const theirs = await deploy({ bot_id: other, args: ['good', 'x'] });
    expect((await t.request('GET', `/api/v1/deployments/${theirs.body.id}`, undefined, key)).status).toBe(404);
    const ok = await deploy({ bot_id: mine, args: ['good', 'y'] }, key);
    expect(ok.status).toBe(202);
    expect((await outcome(ok.body.id, key)).phase).toBe('succeeded');
    const deployments = (await t.request('GET', '/api/v1/deployments', undefined, key)).body.deployments;
    expect(deployments.map((d: { bot_id: string }) => d.bot_id)).toEqual([mine]);
    await outcome(theirs.body.id);
    await t.request('POST', `/api/v1/bots/${mine}/stop`);
    await t.request('POST', `/api/v1/bots/${other}/stop`);
  });
});
