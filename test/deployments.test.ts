import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

describe('deployments: CI hands over a new build, the workflow starts or restarts the bot', () => {
  let t: TestPlatform;
  let ci: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    const minted = await t.request('POST', '/api/v1/api-keys', {
      name: 'ci-deploy',
      permissions: ['deployments:create'],
    });
    expect(minted.status).toBe(201);
    ci = { 'X-API-Key': minted.body.key };
  });
  afterAll(async () => {
    await t?.close();
  });

  const bot = async (id: string) => (await t.request('GET', `/api/v1/bots/${id}`)).body;
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const register = async (id: string) => {
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs', args: ['--build', '1'] }))
        .status,
    ).toBe(201);
  };

  it('starts a stopped bot on the deployed spec, and restarts a running one; a deploy-only key can do nothing else', async () => {
    const id = t.uniqueId('deploy');
    await register(id);

    const first = await t.request(
      'POST',
      '/api/v1/deployments',
      { bot_id: id, ref: 'build-2', args: ['--build', '2'] },
      ci,
    );
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      bot_id: id,
      ref: 'build-2',
      action: 'start',
      result: 'accepted',
      reason: null,
      requested_by: 'api-key:ci-deploy',
    });
    expect(first.body.changes).toEqual(['args']);
    expect(JSON.stringify(first.body)).not.toContain('secret-2');
    expect(first.body.next_steps[0]).toContain(`GET /api/v1/bots/${id}`);
    const running = await waitFor(
      async () => ((await bot(id)).status === 'running' ? bot(id) : undefined),
      'running on build 2',
    );
    expect(cmdline(running.pid).slice(-2)).toEqual(['--build', '2']);

    const second = await t.request(
      'POST',
      '/api/v1/deployments',
      { bot_id: id, ref: 'build-3', args: ['--build', '3'] },
      ci,
    );
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({ action: 'restart', result: 'accepted' });
    const restarted = await waitFor(async () => {
      const b = await bot(id);
      return b.status === 'running' && b.pid !== running.pid ? b : undefined;
    }, 'running on build 3');
    expect(cmdline(restarted.pid).slice(-2)).toEqual(['--build', '3']);
    expect(restarted.restart_count).toBe(running.restart_count + 1);

    // The key deploys and nothing else.
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`, undefined, ci)).status).toBe(403);
    expect((await t.request('GET', `/api/v1/bots/${id}`, undefined, ci)).status).toBe(403);
    expect((await t.request('GET', '/api/v1/deployments', undefined, ci)).status).toBe(403);

    const list = await t.request('GET', `/api/v1/deployments?bot_id=${id}`);
    expect(list.status).toBe(200);
    expect(list.body.deployments.map((d: { ref: string }) => d.ref)).toEqual(['build-3', 'build-2']);
    expect(list.body).toMatchObject({ total: 2, stats: { accepted: 2 } });
    const audit = await t.request(
      'GET',
      `/api/v1/audit?action=${encodeURIComponent('POST /api/v1/deployments')}&target=${id}`,
    );
    expect(audit.body.entries.map((e: { actor: string; result: string }) => [e.actor, e.result])).toEqual([
      ['ci-deploy', 'ok'],
      ['ci-deploy', 'ok'],
    ]);
    const one = await t.request('GET', `/api/v1/deployments/${first.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: first.body.id, ref: 'build-2', action: 'start' });
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('changes env or resources only for a caller that may also PATCH the bot', async () => {
    const id = t.uniqueId('deploy-env');
    await register(id);
    const before = await bot(id);
    for (const body of [
      { bot_id: id, ref: 'b', env: { TOKEN: 'secret-x' } },
      { bot_id: id, ref: 'b', resources: { memory_limit_mb: 64 } },
      { bot_id: id, ref: 'b', args: ['--x'], env: { TOKEN: 'secret-x' }, resources: { cpu_limit: 1 } },
    ]) {
      const r = await t.request('POST', '/api/v1/deployments', body, ci);
      expect(r.status, JSON.stringify(body)).toBe(403);
      expect(r.body.detail).toContain('"bots:update"');
      expect(r.body.detail).toContain('Nothing was deployed');
    }
    expect(await bot(id)).toMatchObject({ args: before.args, env: [], resources: {}, status: 'registered' });
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`)).body.total).toBe(0);

    // With bots:update beside deployments:create, the same deployment goes through.
    const wider = await t.request('POST', '/api/v1/api-keys', {
      name: 'ci-deploy-env',
      permissions: ['deployments:create', 'bots:update'],
    });
    const r = await t.request(
      'POST',
      '/api/v1/deployments',
      { bot_id: id, ref: 'with-env', env: { TOKEN: 'secret-y' }, resources: { memory_limit_mb: 128 } },
      { 'X-API-Key': wider.body.key },
    );
    expect(r.status).toBe(202);
    expect(r.body.changes).toEqual(['env', 'resources']);
    expect(JSON.stringify(r.body)).not.toContain('secret-y');
    expect(await bot(id)).toMatchObject({ env: ['TOKEN'], resources: { memory_limit_mb: 128 } });
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('refuses bad deployments with what to do, and changes nothing', async () => {
    const id = t.uniqueId('deploy-bad');
    await register(id);
    const before = await bot(id);
    const cases: Array<[unknown, number, RegExp]> = [
      [{ bot_id: 'no-such-bot', args: [] }, 404, /Register it first with POST \/api\/v1\/bots/],
      [{ bot_id: id, blueprint: '../outside.sh' }, 422, /Nothing was changed/],
      [
        { bot_id: id, blueprint: 'sleeper.mjs', image: 'ghcr.io/acme/bot:1' },
        422,
        /at most one of "blueprint" or "image"/,
      ],
      [{ bot_id: id, name: 'renamed' }, 422, /name/],
      [{ bot_id: id, image: 'ghcr.io/acme/bot:2' }, 409, /BOT_RUNTIME=kubernetes/],
      [{ bot_id: id, ref: 'x'.repeat(201) }, 422, /ref/],
    ];
    for (const [body, status, detail] of cases) {
      const r = await t.request('POST', '/api/v1/deployments', body, ci);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.detail).toMatch(detail);
    }
    const after = await bot(id);
    expect(after).toMatchObject({ blueprint: before.blueprint, image: null, args: before.args, status: 'registered' });
    expect((await t.request('GET', `/api/v1/deployments?bot_id=${id}`)).body.total).toBe(0);
    expect((await t.request('GET', '/api/v1/deployments/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it("a deployment the bot's workflow refuses puts the spec back and is recorded as rejected", async () => {
    const id = t.uniqueId('deploy-race');
    await register(id);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    // Running in the registry (the launch writes it) and in the workflow (which learns it when the launch returns).
    await waitFor(
      async () => (await bot(id)).status === 'running' && (await t.botState(id)).status === 'running',
      'running',
    );
    // The registry lags the workflow (as in a race with another command): the deployment asks to start a running bot.
    await t.platform.registry.db.updateTable('bots').set({ desired_state: 'stopped' }).where('id', '=', id).execute();

    const r = await t.request(
      'POST',
      '/api/v1/deployments',
      { bot_id: id, ref: 'build-9', args: ['--build', '9'] },
      ci,
    );
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/already running.*Nothing was deployed; the spec is unchanged\./s);
    expect((await bot(id)).args).toEqual(['--build', '1']);
    const list = await t.request('GET', `/api/v1/deployments?bot_id=${id}`);
    expect(list.body.deployments).toEqual([
      expect.objectContaining({ ref: 'build-9', result: 'rejected', reason: expect.stringMatching(/already running/) }),
    ]);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
