import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordIncident } from '../registry/incidents.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

/**
 * No input reaches a 500, and every attempt is on record. Every route of the
 * OpenAPI document gets hostile text (NUL, lone surrogates, control
 * characters, bidirectional overrides, overlong strings) in each path
 * parameter, query parameter and body field; every answer must be below
 * 500, and the audit log must hold exactly one record of each attempt,
 * found by the request id it was sent with.
 */

type Operation = {
  parameters?: Array<{ name: string; in: 'path' | 'query' | 'header' }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
};
type Schema = { $ref?: string; properties?: Record<string, Schema>; allOf?: Schema[]; anyOf?: Schema[] };

const hostileText = fc.oneof(
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })).map(([a, b]) => `${a}\u0000${b}`),
  fc
    .tuple(fc.string({ maxLength: 20 }), fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'))
    .map(([a, s]) => `${a}${s}`),
  fc.tuple(fc.constantFrom('\ud83d', '\ude00'), fc.string({ maxLength: 20 })).map(([s, a]) => `${s}${a}`),
  fc
    .tuple(fc.string({ maxLength: 20 }), fc.integer({ min: 1, max: 0x1f }), fc.string({ maxLength: 20 }))
    .map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`),
  fc.constantFrom('\u007f', '\u0085', '\u202e', '\u2066', '\u200f').map((c) => `name${c}txt.sh`),
  fc.integer({ min: 300, max: 6000 }).map((n) => 'a'.repeat(n)),
  fc.integer({ min: 300, max: 3000 }).map((n) => '\u0001'.repeat(n)),
);

/** Percent-encoding as a client would send it; a lone surrogate goes as its three bytes (WTF-8), which no UTF-8 decoder takes. */
function encodeHostile(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff)
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    else out += encodeURIComponent(ch);
  }
  return out;
}

describe('hostile input: no 5xx, one audit record per attempt', () => {
  let t: TestPlatform;
  let document: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };
  const sent: Array<{ requestId: string; what: string; status: number }> = [];
  const fixture = { bot: '', incident: '', user: 'hostile-user', key: '' };

  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    document = (await t.anonymous('GET', '/openapi.json')).body;
    fixture.bot = t.uniqueId('hostile');
    expect(
      (
        await t.request('POST', '/api/v1/bots', {
          id: fixture.bot,
          name: 'hostile',
          blueprint: 'crash.sh',
          heal_policy: { max_restarts: 0 },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await t.request('POST', '/api/v1/users', {
          username: fixture.user,
          password: 'Hostile-Passw0rd-1',
          role: 'viewer',
        })
      ).status,
    ).toBe(201);
    fixture.key = (await t.request('POST', '/api/v1/api-keys', { name: 'hostile', role: 'user' })).body.id;
    fixture.incident = randomUUID();
    await recordIncident(t.platform.registry.db, {
      id: fixture.incident,
      bot_id: fixture.bot,
      instance_id: null,
      kind: 'process_exited',
      severity: 'warning',
      message: 'hostile',
      evidence: '{}',
      outcome: null,
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Sends with a request id of its own, so its audit record can be found; answers must be below 500. */
  const attempt = async (method: string, url: string, body: string | undefined, what: string, anonymous = false) => {
    const requestId = `hostile-${randomUUID()}`;
    const headers = {
      'X-Request-Id': requestId,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    };
    const r = anonymous ? await t.anonymous(method, url, body, headers) : await t.request(method, url, body, headers);
    expect(r.status, `${what}: ${JSON.stringify(r.body).slice(0, 300)}`).toBeLessThan(500);
    expect(r.headers.get('x-request-id')).toBe(requestId);
    sent.push({ requestId, what, status: r.status });
    return r;
  };

  const fill = (path: string, overrides: Record<string, string> = {}) =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (name in overrides) return encodeHostile(overrides[name]!);
      if (name === 'username') return fixture.user;
      if (path.startsWith('/api/v1/incidents')) return fixture.incident;
      if (path.startsWith('/api/v1/api-keys')) return fixture.key;
      if (path.startsWith('/api/v1/deployments')) return randomUUID();
      return fixture.bot;
    });

  const bodyFields = (op: Operation): string[] => {
    const resolve = (s: Schema | undefined): Schema | undefined =>
      s?.$ref ? document.components.schemas[s.$ref.split('/').pop()!] : s;
    const schema = resolve(op.requestBody?.content?.['application/json']?.schema);
    const parts = [schema, ...(schema?.allOf ?? []), ...(schema?.anyOf ?? [])].map(resolve);
    return [...new Set(parts.flatMap((p) => Object.keys(p?.properties ?? {})))];
  };

  it('every route, every field', async () => {
    const routes = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    const api = routes.filter((r) => r.path.startsWith('/api/v1/'));
    expect(api.length).toBeGreaterThan(30);
    for (const { path, method, op } of api) {
      const targets: Array<{ where: 'path' | 'query' | 'body' | 'key'; name: string }> = [
        ...(op.parameters ?? [])
          .filter((p) => p.in === 'path' || p.in === 'query')
          .map((p) => ({ where: p.in as 'path' | 'query', name: p.name })),
        ...bodyFields(op).map((name) => ({ where: 'body' as const, name })),
        ...(op.requestBody ? [{ where: 'key' as const, name: '(a key)' }] : []),
      ];
      if (targets.length === 0) continue;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...targets), hostileText, fc.boolean(), async (target, text, anonymous) => {
          const what = `${method} ${path} ${target.where} ${target.name}`;
          let url = fill(path);
          let body: string | undefined = op.requestBody ? '{}' : undefined;
          if (target.where === 'path') url = fill(path, { [target.name]: text });
          else if (target.where === 'query') url = `${url}?${target.name}=${encodeHostile(text)}`;
          else if (target.where === 'body') body = JSON.stringify({ [target.name]: text });
          else body = JSON.stringify({ [text]: 'value' });
          // Lone surrogates must reach the server as sent: JSON.stringify writes them as \ud800 escapes.
          await attempt(method, url, body, what, anonymous && !path.startsWith('/api/v1/self'));
        }),
        { numRuns: 25, seed: 20261203 },
      );
    }
    // Exactly one record per attempt, whatever it held.
    const ids = sent.map((s) => s.requestId);
    const { rows } = await sql<{
      request_id: string;
      n: number;
    }>`select request_id, count(*)::int as n from audit_log where request_id = any(${ids}) group by request_id`.execute(
      t.platform.registry.db,
    );
    const recorded = new Map(rows.map((r) => [r.request_id, r.n]));
    const missing = sent
      .filter((s) => recorded.get(s.requestId) !== 1)
      .map((s) => `${s.what} → ${s.status}, ${recorded.get(s.requestId) ?? 0} records`);
    expect(missing).toEqual([]);
    const byStatus: Record<number, number> = {};
    for (const s of sent) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    console.log(
      `hostile input: ${sent.length} attempts on ${api.length} routes, by status ${JSON.stringify(byStatus)}`,
    );
  }, 300_000);

  it('what was seen to fail: NUL in a login name, in filters, in a resolution and in a body is refused and on record', async () => {
    const incident = randomUUID();
    await recordIncident(t.platform.registry.db, {
      id: incident,
      bot_id: fixture.bot,
      instance_id: null,
      kind: 'process_exited',
      severity: 'warning',
      message: 'nul',
      evidence: '{}',
      outcome: null,
    });
    const cases: Array<[string, string, string | undefined, boolean]> = [
      ['POST', '/api/v1/auth/login', JSON.stringify({ username: 'adm\u0000in', password: 'x' }), true],
      ['GET', '/api/v1/audit?actor=a%00b', undefined, false],
      ['GET', '/api/v1/bots?role=a%00b', undefined, false],
      ['GET', '/api/v1/incidents?kind=a%00b', undefined, false],
      ['GET', `/api/v1/deployments?bot_id=${fixture.bot}%00`, undefined, false],
      ['POST', `/api/v1/incidents/${incident}/resolve`, JSON.stringify({ resolution: 'fixed\u0000' }), false],
      [
        'POST',
        '/api/v1/bots',
        JSON.stringify({ id: t.uniqueId('nul'), name: 'n', blueprint: 'sleeper.mjs', description: 'a\u0000b' }),
        false,
      ],
      ['PATCH', `/api/v1/bots/${fixture.bot}`, JSON.stringify({ env: { KEY: '\ud800' } }), false],
      // Outside /api too: every route reads its query through the same screen.
      ['GET', '/health?probe=%00', undefined, true],
      ['GET', '/metrics?name=%ED%A0%80', undefined, true],
      ['GET', `/ws/command/${fixture.user}%00`, undefined, true],
    ];
    for (const [method, url, body, anonymous] of cases) {
      const r = await attempt(method, url, body, `${method} ${url}`, anonymous);
      expect(r.status, `${method} ${url}`).toBe(422);
      expect(r.body.type).toBe('https://codex32.dev/problems/invalid-text');
      expect(r.body.detail).toMatch(/NUL|lone UTF-16 surrogate|not valid percent-encoded UTF-8/);
      const audit = await t.request('GET', `/api/v1/audit?request_id=${r.headers.get('x-request-id')}`);
      expect(audit.body.entries, `${method} ${url}`).toHaveLength(1);
      expect(audit.body.entries[0]).toMatchObject({ result: 'refused', status: 422 });
    }
    // The login attempt is on record under the name tried, made storable.
    const login = await t.request('GET', `/api/v1/audit?actor=${encodeURIComponent('adm\\u0000in')}`);
    expect(login.body.entries[0]).toMatchObject({
      actor: 'adm\\u0000in',
      action: 'POST /api/v1/auth/login',
      result: 'refused',
    });
    // The incident is as it was.
    expect((await t.request('GET', `/api/v1/incidents/${incident}`)).body.state).toBe('open');
  });

  it('names refuse control characters and bidi overrides; descriptions keep them and views show them escaped', async () => {
    const spoof = await t.request('POST', '/api/v1/bots', {
      id: t.uniqueId('bidi'),
      name: 'invoice\u202Efdp.sh',
      blueprint: 'sleeper.mjs',
    });
    expect(spoof.status).toBe(422);
    expect(spoof.body.errors).toEqual([
      expect.objectContaining({ path: 'name', message: expect.stringMatching(/bidirectional control \(U\+202E\)/) }),
    ]);
    expect((await t.request('POST', '/api/v1/api-keys', { name: 'ci\u0007key', role: 'user' })).status).toBe(422);
    expect((await t.request('POST', '/api/v1/deployments', { bot_id: fixture.bot, ref: 'v1\u001b[31m' })).status).toBe(
      422,
    );

    const id = t.uniqueId('desc');
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'plain',
      blueprint: 'sleeper.mjs',
      description: 'line one\nsays \u202Ereversed\u202C and \u0007 bell',
    });
    expect(created.status).toBe(201);
    expect(created.body.description).toBe('line one\nsays \\u202Ereversed\\u202C and \\u0007 bell');
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.description).toBe(
      'line one\nsays \\u202Ereversed\\u202C and \\u0007 bell',
    );
    const stored = await t.platform.registry.db
      .selectFrom('bots')
      .select('description')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(stored.description).toBe('line one\nsays \u202Ereversed\u202C and \u0007 bell');
  });
});
