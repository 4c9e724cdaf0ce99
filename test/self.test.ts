import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

describe("a bot's own token (CODEX32_BOT_TOKEN) and /api/v1/self", () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
  });
  afterAll(async () => {
    await t?.close();
  });

  const envOf = (pid: number) =>
    Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );

  it('reads and reports only its own self, and dies with its instance', async () => {
    const id = t.uniqueId('selfish');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const bot = await waitFor(async () => {
      const b = (await t.request('GET', `/api/v1/bots/${id}`)).body;
      return b.status === 'running' ? b : undefined;
    }, 'running');
    const env = envOf(bot.pid);
    expect(env.CODEX32_BOT_ID).toBe(id);
    expect(env.CODEX32_API_URL).toMatch(/^http:\/\//);
    const as = { Authorization: `Bearer ${env.CODEX32_BOT_TOKEN}` };

    const beat = await t.request(
      'POST',
      '/api/v1/self/heartbeat',
      { requests: 10, errors: 3, gauges: { queue: 4 } },
      as,
    );
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({
      bot_id: id,
      instance_id: bot.instance_id,
      beats: 1,
      requests: 10,
      errors: 3,
      error_rate: 0.3,
      gauges: { queue: 4 },
    });
    expect((await t.request('POST', '/api/v1/self/heartbeat', { requests: 1, errors: 2 }, as)).status).toBe(422);
    const me = await t.request('GET', '/api/v1/self', undefined, as);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      bot: { bot_id: id, status: 'running', error_rate: 0.3 },
      instance_id: bot.instance_id,
      heartbeat: { beats: 1 },
    });
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.error_rate).toBe(0.3);
    const listed = (await t.request('GET', '/api/v1/bots?limit=1000')).body.bots.find(
      (b: { bot_id: string }) => b.bot_id === id,
    );
    expect(listed.error_rate).toBe(0.3);

    // Nothing else answers it, and no one else has a self.
    for (const [method, p] of [
      ['GET', '/api/v1/bots'],
      ['GET', `/api/v1/bots/${id}`],
      ['POST', `/api/v1/bots/${id}/stop`],
      ['GET', '/api/v1/auth/me'],
      ['GET', '/api/v1/incidents'],
    ] as const) {
      expect((await t.request(method, p, undefined, as)).status, `${method} ${p}`).toBe(403);
    }
    expect((await t.request('GET', '/api/v1/self')).status).toBe(403);
    expect((await t.anonymous('GET', '/api/v1/self')).status).toBe(401);
    expect(
      (await t.request('GET', '/api/v1/self', undefined, { Authorization: `Bearer ${env.CODEX32_BOT_TOKEN}x` })).status,
    ).toBe(401);

    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'stopped', 'stopped');
    const ended = await t.request('GET', '/api/v1/self', undefined, as);
    expect(ended.status).toBe(401);
    expect(ended.body.detail).toMatch(/instance that has ended/);
  });
});
