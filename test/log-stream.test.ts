import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, waitForBot, type TestPlatform } from './helpers/platform.js';

/** Reads server-sent events from a fetch body: each event's name and data, as they come. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const field = (name: string) =>
        block
          .split('\n')
          .filter((l) => l.startsWith(`${name}:`))
          .map((l) => l.slice(name.length + 1).replace(/^ /, ''))
          .join('\n');
      yield { event: field('event') || 'message', data: field('data') };
    }
  }
}

describe('GET /api/v1/bots/{id}/logs/stream: a live tail', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends the last lines, then each line as the bot writes it; refuses callers without bots:logs', async () => {
    const id = t.uniqueId('tailed');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running');

    const abort = new AbortController();
    const res = await fetch(`${t.url}/api/v1/bots/${id}/logs/stream?tail=5`, {
      headers: { 'X-API-Key': t.adminKey },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const it = events(res.body!);
    const first = (await it.next()).value!;
    expect(first.event).toBe('lines');
    const before = JSON.parse(first.data) as string[];
    expect(before.length).toBeLessThanOrEqual(5);
    const openedAt = Date.now();
    // sleeper.mjs prints "tick <ms>" every second: a line written after the stream opened arrives.
    let fresh: string | undefined;
    while (!fresh && Date.now() - openedAt < 10_000) {
      const e = (await it.next()).value!;
      if (e.event !== 'lines') continue;
      fresh = (JSON.parse(e.data) as string[]).find((l) => /^tick \d+$/.test(l) && Number(l.split(' ')[1]) > openedAt);
    }
    expect(fresh).toBeDefined();
    abort.abort();

    const user = await t.request('POST', '/api/v1/api-keys', { name: 'tail-user', role: 'user' });
    const refused = await fetch(`${t.url}/api/v1/bots/${id}/logs/stream`, { headers: { 'X-API-Key': user.body.key } });
    expect(refused.status).toBe(403);
    expect((await t.request('GET', '/api/v1/bots/no-such-bot/logs/stream')).status).toBe(404);
    expect((await t.request('GET', `/api/v1/bots/${id}/logs/stream?tail=5000`)).status).toBe(422);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
