import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botWorkflowId } from '../workflows/messages.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

describe('bad input is refused with a 4xx that says what is wrong, and nothing is written', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
  });
  afterAll(async () => {
    await t?.close();
  });

  const valid = (id: string) => ({ id, name: 'Valid', description: 'd', blueprint: 'sleeper.mjs', role: 'worker' });

  async function botCount() {
    const r = await t.platform.registry.db
      .selectFrom('bots')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async function expectNoWorkflow(id: string) {
    await expect(t.platform.client.workflow.getHandle(botWorkflowId(id)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  }

  async function expectRefused(body: unknown, status: number, detail: RegExp, headers?: Record<string, string>) {
    const before = await botCount();
    const r = await t.request('POST', '/api/v1/bots', body, headers);
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.status).toBe(status);
    expect(r.body.detail).toMatch(detail);
    expect(r.body.message).toBe(r.body.detail);
    expect(await botCount()).toBe(before);
    const id = (body as { id?: unknown })?.id;
    if (typeof id === 'string' && /^[a-z0-9-]{2,63}$/.test(id)) await expectNoWorkflow(id);
    return r.body;
  }

  it.each([
    ['A', 'one character'],
    ['Upper-Case', 'capitals'],
    ['-leading', 'leading dash'],
    ['trailing-', 'trailing dash'],
    ['under_score', 'underscore'],
    ['with space', 'space'],
    ['../etc', 'traversal'],
    ['x'.repeat(64), 'too long'],
    ['', 'empty'],
  ])('invalid id %j (%s)', async (id) => {
    await expectRefused({ ...valid('x'), id }, 422, /id/);
  });

  it('a non-string id', async () => {
    await expectRefused({ ...valid('x'), id: 42 }, 422, /id/);
  });

  it('unknown fields, top level and nested', async () => {
    const body = await expectRefused({ ...valid(t.uniqueId('unk')), colour: 'blue' }, 422, /unknown field "colour"/);
    expect(body.errors).toEqual([{ path: 'request body', message: 'unknown field "colour": remove it' }]);
    await expectRefused(
      { ...valid(t.uniqueId('unk')), heal_policy: { max_restarts: 2, retries: 3 } },
      422,
      /heal_policy.*unknown field "retries"/,
    );
    await expectRefused({ ...valid(t.uniqueId('unk')), resources: { gpu: 1 } }, 422, /unknown field "gpu"/);
  });

  it.each([
    ['../outside.sh', /outside the bots directory/],
    ['nested/../../outside.sh', /outside the bots directory/],
    ['/etc/passwd', /outside the bots directory/],
    ['..%2foutside.sh', /percent-encoded/],
    ['%2e%2e/outside.sh', /percent-encoded/],
    ['escape.sh', /through a symlink.*outside the bots directory/],
    ['missing.py', /does not exist/],
    ['notes.txt', /not runnable/],
    ['nested', /is a directory/],
    ['', /blueprint/],
  ])('blueprint %j', async (blueprint, detail) => {
    await expectRefused({ ...valid(t.uniqueId('bp')), blueprint }, 422, detail);
  });

  it('both or neither of blueprint and image', async () => {
    await expectRefused(
      { ...valid(t.uniqueId('src')), image: 'ghcr.io/acme/bot:1' },
      422,
      /exactly one of "blueprint".*"image"/,
    );
    const { blueprint: _b, ...neither } = valid(t.uniqueId('src'));
    await expectRefused(neither, 422, /exactly one of "blueprint".*"image"/);
  });

  it('out-of-range and reserved values', async () => {
    await expectRefused(
      { ...valid(t.uniqueId('rng')), heal_policy: { max_restarts: -1 } },
      422,
      /heal_policy.max_restarts/,
    );
    await expectRefused(
      { ...valid(t.uniqueId('rng')), heal_policy: { backoff_initial_seconds: 10, backoff_max_seconds: 1 } },
      422,
      /backoff_max_seconds must be at least/,
    );
    await expectRefused({ ...valid(t.uniqueId('rng')), env: { CODEX32_BOT_ID: 'spoof' } }, 422, /reserved/);
    await expectRefused(
      { ...valid(t.uniqueId('rng')), env: { '1BAD': 'x' } },
      422,
      /not an environment name: upper-case letters/,
    );
    await expectRefused({ ...valid(t.uniqueId('rng')), args: 'not-a-list' }, 422, /args/);
    await expectRefused(
      { ...valid(t.uniqueId('rng')), heartbeat_interval_seconds: 0 },
      422,
      /heartbeat_interval_seconds/,
    );
    await expectRefused({ ...valid(t.uniqueId('rng')), name: '' }, 422, /name/);
  });

  it('malformed, oversized, non-JSON and non-object bodies', async () => {
    await expectRefused('{"id": "broken",', 400, /not valid JSON/);
    await expectRefused(
      { ...valid(t.uniqueId('big')), description: 'x'.repeat(70 * 1024) },
      413,
      /larger than \d+ bytes/,
    );
    await expectRefused('id=x', 415, /Content-Type: application\/json/, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    await expectRefused([valid(t.uniqueId('arr'))], 422, /request body/);
    await expectRefused('null', 422, /request body/);
  });

  it('a duplicate id is a 409 and changes nothing', async () => {
    const id = t.uniqueId('dup');
    expect((await t.request('POST', '/api/v1/bots', valid(id))).status).toBe(201);
    const r = await t.request('POST', '/api/v1/bots', { ...valid(id), name: 'Other' });
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/already exists.*PATCH/);
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.name).toBe('Valid');
  });

  it('symlinks that stay inside, and the bots/ prefix, are accepted and stored relative to BOTS_DIR', async () => {
    const a = await t.request('POST', '/api/v1/bots', { ...valid(t.uniqueId('ok')), blueprint: 'alias.mjs' });
    expect(a.status).toBe(201);
    expect(a.body.blueprint).toBe('alias.mjs');
    const b = await t.request('POST', '/api/v1/bots', {
      ...valid(t.uniqueId('ok')),
      blueprint: 'bots/nested/inner.sh',
    });
    expect(b.status).toBe(201);
    expect(b.body.blueprint).toBe('nested/inner.sh');
    const c = await t.request('POST', '/api/v1/bots', { ...valid(t.uniqueId('ok')), blueprint: 'runnable' });
    expect(c.status).toBe(201);
  });

  it('PATCH with bad input changes nothing', async () => {
    const id = t.uniqueId('patch');
    expect((await t.request('POST', '/api/v1/bots', valid(id))).status).toBe(201);
    const before = (await t.request('GET', `/api/v1/bots/${id}`)).body;
    for (const [body, status] of [
      [{ blueprint: '../outside.sh' }, 422],
      [{ id: 'renamed' }, 422],
      [{ colour: 'blue' }, 422],
      [{}, 422],
      [{ blueprint: null }, 422],
      [{ blueprint: 'sleeper.py', image: 'x/y:1' }, 422],
    ] as const) {
      const r = await t.request('PATCH', `/api/v1/bots/${id}`, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.detail).toBeTruthy();
    }
    const after = (await t.request('GET', `/api/v1/bots/${id}`)).body;
    expect(after).toEqual(before);
  });

  it('unknown bots and bad ids in paths', async () => {
    const missing = await t.request('POST', '/api/v1/bots/no-such-bot/start');
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toMatch(/"no-such-bot" does not exist/);
    expect((await t.request('GET', '/api/v1/bots/no-such-bot')).status).toBe(404);
    expect((await t.request('DELETE', '/api/v1/bots/no-such-bot')).status).toBe(404);
    const bad = await t.request('GET', '/api/v1/bots/Bad_Id');
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toMatch(/path.*id/);
    const query = await t.request('GET', '/api/v1/bots?limit=0');
    expect(query.status).toBe(422);
    expect((await t.request('GET', '/api/v1/bots?status=sleeping')).status).toBe(422);
  });
});
