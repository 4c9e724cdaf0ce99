import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

/**
 * Generated input against every request schema: whatever arrives, the answer
 * is never a 5xx, a refusal writes nothing, and the error says what is wrong.
 */
describe('request schemas under generated input', () => {
  let t: TestPlatform;
  let admin: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', {
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD: 'Sturdy-Test-Passw0rd',
      LOGIN_FAILURES_PER_ACCOUNT: '100000',
      LOGIN_FAILURES_PER_ADDRESS: '100000',
    });
    admin = {
      Authorization: `Bearer ${(await t.request('POST', '/api/v1/auth/login', { username: 'admin', password: 'Sturdy-Test-Passw0rd' })).body.access_token}`,
    };
  });
  afterAll(async () => {
    await t?.close();
  });

  const counts = async () => {
    const db = t.platform.registry.db;
    const [bots, users, keys, deployments] = await Promise.all([
      db
        .selectFrom('bots')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('deployments')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    ]);
    return [Number(bots.n), Number(users.n), Number(keys.n), Number(deployments.n)];
  };

  // Values of every JSON type, with the field names of our schemas mixed in so that generated objects come close to valid ones.
  const fieldNames = fc.constantFrom(
    'id',
    'name',
    'description',
    'role',
    'blueprint',
    'image',
    'args',
    'env',
    'resources',
    'heal_policy',
    'health_rules',
    'heartbeat_interval_seconds',
    'max_restarts',
    'username',
    'password',
    'permissions',
    'expires_in_days',
    'disabled',
    'refresh_token',
    'everywhere',
    'bot_id',
    'ref',
    '__proto__',
    'constructor',
  );
  const leaf = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      'sleeper.mjs',
      '../outside.sh',
      'analytics',
      'admin',
      'viewer',
      'bots:read',
      '%2e%2e/x',
      'x'.repeat(300),
      '\u0000',
      'ok-id-1',
      'prop-target',
    ),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 4 }),
    object: fc.dictionary(fc.oneof(fieldNames, fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 6 }),
  })).value;

  const routes: Array<[string, string, Record<string, string>?]> = [
    ['POST', '/api/v1/bots'],
    ['PATCH', '/api/v1/bots/prop-target'],
    ['POST', '/api/v1/users', undefined],
    ['PATCH', '/api/v1/users/admin', undefined],
    ['POST', '/api/v1/api-keys', undefined],
    ['POST', '/api/v1/deployments'],
    ['POST', '/api/v1/auth/login'],
    ['POST', '/api/v1/auth/logout', undefined],
  ];

  it.each(routes)('%s %s: no input yields a 5xx, and a refusal writes nothing', async (method, path) => {
    await t.request('POST', '/api/v1/bots', { id: 'prop-target', name: 'Target', blueprint: 'sleeper.mjs' });
    const headers = path.includes('/users') || path.includes('/api-keys') || path.includes('logout') ? admin : {};
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          json,
          fc.string({ maxLength: 60 }).map((s) => ({ raw: s })),
        ),
        async (input) => {
          const before = await counts();
          const raw = typeof input === 'object' && input !== null && 'raw' in input && Object.keys(input).length === 1;
          const body = raw ? String((input as { raw: string }).raw) : JSON.stringify(input);
          const r = await t.request(method, path, body, { ...headers, 'content-type': 'application/json' });
          expect(r.status, `${method} ${path} ${body}`).toBeLessThan(500);
          if (r.status >= 400) {
            expect(await counts()).toEqual(before);
            expect(typeof r.body.detail).toBe('string');
            expect(r.body.detail.length).toBeGreaterThan(10);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('path and query parameters never yield a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), fc.string({ maxLength: 30 }), async (segment, query) => {
        const p = encodeURIComponent(segment) || 'x';
        for (const url of [
          `/api/v1/bots/${p}`,
          `/api/v1/bots/${p}/start`,
          `/api/v1/bots?limit=${encodeURIComponent(query)}&status=${encodeURIComponent(query)}`,
          `/api/v1/incidents?since=${encodeURIComponent(query)}`,
          `/api/v1/deployments/${p}`,
          `/api/v1/deployments?limit=${encodeURIComponent(query)}&bot_id=${encodeURIComponent(query)}`,
        ]) {
          const method = url.endsWith('/start') ? 'POST' : 'GET';
          const r = await t.request(method, url);
          expect(r.status, `${method} ${url}`).toBeLessThan(500);
        }
      }),
      { numRuns: 40 },
    );
  });
});
