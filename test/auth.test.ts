import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

const ADMIN = { username: 'root-admin', password: 'Sturdy-Passw0rd!' };

describe('authentication: login, rotation, logout, me', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', {
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      ADMIN_API_KEY: 'ci-admin-key-0123456789',
      API_SECRET_KEY: 's'.repeat(64),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = (username = ADMIN.username, password = ADMIN.password) =>
    t.request('POST', '/api/v1/auth/login', { username, password });
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('logs the bootstrap admin in and tells who it is', async () => {
    const r = await login();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'bearer', expires_in: 1800 });
    expect(typeof r.body.access_token).toBe('string');
    const me = await t.request('GET', '/api/v1/auth/me', undefined, bearer(r.body.access_token));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ type: 'user', name: ADMIN.username, role: 'admin' });
    expect(me.body.permissions).toContain('users:manage');
    const perms = await t.request('GET', '/api/v1/auth/permissions', undefined, bearer(r.body.access_token));
    expect(perms.status).toBe(200);
    expect(perms.body.permissions.find((p: { name: string }) => p.name === 'bots:operate').allows).toMatch(
      /start, stop/,
    );
  });

  it('refuses wrong credentials alike, with WWW-Authenticate', async () => {
    const wrongPassword = await login(ADMIN.username, 'nope-nope-nope');
    const noUser = await login('nobody-here', 'nope-nope-nope');
    for (const r of [wrongPassword, noUser]) {
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="codex32"');
      expect(r.body.detail).toBe('Invalid username or password.');
    }
    expect((await t.request('POST', '/api/v1/auth/login', { username: ADMIN.username })).status).toBe(422);
    expect((await t.request('POST', '/api/v1/auth/login', { ...ADMIN, extra: 1 })).status).toBe(422);
  });

  it('rotates refresh tokens, and a reused one revokes its whole family', async () => {
    const first = (await login()).body;
    const second = await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(first.refresh_token));
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);

    const reuse = await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(first.refresh_token));
    expect(reuse.status).toBe(401);
    expect(reuse.body.detail).toMatch(/already used.*revoked/);
    // The thief's rotation is dead too.
    const after = await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(second.body.refresh_token));
    expect(after.status).toBe(401);
    // Another login is unaffected.
    const other = (await login()).body;
    expect((await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(other.refresh_token))).status).toBe(200);
  });

  it('keeps access and refresh tokens apart', async () => {
    const pair = (await login()).body;
    const refreshAsAccess = await t.request('GET', '/api/v1/auth/me', undefined, bearer(pair.refresh_token));
    expect(refreshAsAccess.status).toBe(401);
    expect(refreshAsAccess.body.detail).toMatch(/refresh token cannot be used as an access token/);
    const accessAsRefresh = await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(pair.access_token));
    expect(accessAsRefresh.status).toBe(401);
    expect((await t.anonymous('GET', '/api/v1/auth/me')).status).toBe(401);
    expect((await t.request('GET', '/api/v1/auth/me', undefined, { Authorization: 'Basic abc' })).status).toBe(401);
  });

  it('logout ends a session; logout everywhere voids every token', async () => {
    const a = (await login()).body;
    const b = (await login()).body;
    const out = await t.request(
      'POST',
      '/api/v1/auth/logout',
      { refresh_token: a.refresh_token },
      bearer(a.access_token),
    );
    expect(out.status).toBe(200);
    expect((await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(a.refresh_token))).status).toBe(401);
    expect((await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(b.refresh_token))).status).toBe(200);

    const c = (await login()).body;
    expect((await t.request('POST', '/api/v1/auth/logout', { everywhere: true }, bearer(c.access_token))).status).toBe(
      200,
    );
    const revoked = await t.request('GET', '/api/v1/auth/me', undefined, bearer(c.access_token));
    expect(revoked.status).toBe(401);
    expect(revoked.body.detail).toMatch(/revoked/);
    expect((await login()).status).toBe(200);
  });

  it('authenticates the admin API key, and refuses a wrong one', async () => {
    const me = await t.request('GET', '/api/v1/auth/me', undefined, { 'X-API-Key': 'ci-admin-key-0123456789' });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ type: 'api-key', role: 'admin' });
    expect((await t.request('GET', '/api/v1/auth/me', undefined, { 'X-API-Key': 'wrong' })).status).toBe(401);
  });

  it('a disabled user is out at the next request', async () => {
    const { hashPassword } = await import('../api/auth/passwords.js');
    const db = t.platform.registry.db;
    await db
      .insertInto('users')
      .values({ username: 'temp-viewer', password_hash: await hashPassword('Temp-viewer-pass1'), role: 'viewer' })
      .execute();
    const pair = (await login('temp-viewer', 'Temp-viewer-pass1')).body;
    expect((await t.request('GET', '/api/v1/auth/me', undefined, bearer(pair.access_token))).body.role).toBe('viewer');
    await db.updateTable('users').set({ role: 'operator' }).where('username', '=', 'temp-viewer').execute();
    expect((await t.request('GET', '/api/v1/auth/me', undefined, bearer(pair.access_token))).body.role).toBe(
      'operator',
    );
    await db.updateTable('users').set({ disabled: true }).where('username', '=', 'temp-viewer').execute();
    const refused = await t.request('GET', '/api/v1/auth/me', undefined, bearer(pair.access_token));
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/disabled/);
    expect((await t.request('POST', '/api/v1/auth/refresh', undefined, bearer(pair.refresh_token))).status).toBe(401);
    await db.deleteFrom('users').where('username', '=', 'temp-viewer').execute();
    expect((await t.request('GET', '/api/v1/auth/me', undefined, bearer(pair.access_token))).status).toBe(401);
  });
});

describe('the first administrator', () => {
  it('gets a generated password printed once and stored only as a hash; a weak configured one is refused', async () => {
    const fs = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { loadConfig } = await import('../lib/config.js');
    const { openRegistry } = await import('../registry/connect.js');
    const { migrate } = await import('../registry/migrate.js');
    const { bootstrapAdmin } = await import('../api/auth/bootstrap-admin.js');
    const { verifyPassword } = await import('../api/auth/passwords.js');
    const { createLogger } = await import('../lib/logger.js');
    const { createTestDatabase } = await import('./helpers/platform.js');
    const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' });
    const database = await createTestDatabase();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-admin-'));
    const registry = await openRegistry(loadConfig({ DATABASE_URL: database.url, DATA_DIR: dir }));
    try {
      await migrate(registry.db, 'latest');
      await expect(bootstrapAdmin(registry.db, { username: 'boss', password: 'weak', logger })).rejects.toThrow(
        /ADMIN_PASSWORD is too weak: the password must be at least 12/,
      );
      const printed: string[] = [];
      expect(await bootstrapAdmin(registry.db, { logger, print: (l) => printed.push(l) })).toEqual({
        created: true,
        username: 'admin',
      });
      const password = /password: (\S+)/.exec(printed.join('\n'))![1]!;
      const row = await registry.db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', 'admin')
        .executeTakeFirstOrThrow();
      expect(row.role).toBe('admin');
      expect(row.password_hash).not.toContain(password);
      expect(await verifyPassword(row.password_hash, password)).toBe(true);
      // Only once: there is a user now.
      expect(await bootstrapAdmin(registry.db, { logger, print: (l) => printed.push(l) })).toEqual({ created: false });
      expect(printed).toHaveLength(1);
    } finally {
      await registry.close();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('users, managed by administrators', () => {
  let t: TestPlatform;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password });
    adminToken = (await t.request('POST', '/api/v1/auth/login', ADMIN)).body.access_token;
  });
  afterAll(async () => {
    await t?.close();
  });
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('creates, lists, changes, disables and deletes users; only admins may', async () => {
    expect((await t.anonymous('GET', '/api/v1/users')).status).toBe(401);
    const weak = await t.request(
      'POST',
      '/api/v1/users',
      { username: 'bob', password: 'short', role: 'operator' },
      as(adminToken),
    );
    expect(weak.status).toBe(422);
    expect(weak.body.detail).toMatch(/too weak: the password must be at least 12/);
    const created = await t.request(
      'POST',
      '/api/v1/users',
      { username: 'bob', password: 'Operator-pass-42', role: 'operator' },
      as(adminToken),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'bob', role: 'operator', disabled: false });
    expect(created.body).not.toHaveProperty('password_hash');
    expect(
      (
        await t.request(
          'POST',
          '/api/v1/users',
          { username: 'bob', password: 'Operator-pass-42', role: 'operator' },
          as(adminToken),
        )
      ).status,
    ).toBe(409);

    const bob = (await t.request('POST', '/api/v1/auth/login', { username: 'bob', password: 'Operator-pass-42' })).body;
    const forbidden = await t.request('GET', '/api/v1/users', undefined, as(bob.access_token));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.detail).toMatch(/users:manage/);

    const list = await t.request('GET', '/api/v1/users', undefined, as(adminToken));
    expect(list.body.users.map((u: { username: string }) => u.username)).toEqual(['bob', ADMIN.username]);

    const reset = await t.request('PATCH', '/api/v1/users/bob', { password: 'New-secret-pass-7' }, as(adminToken));
    expect(reset.status).toBe(200);
    expect((await t.request('GET', '/api/v1/auth/me', undefined, as(bob.access_token))).status).toBe(401);
    expect((await t.request('POST', '/api/v1/auth/refresh', undefined, as(bob.refresh_token))).status).toBe(401);
    expect(
      (await t.request('POST', '/api/v1/auth/login', { username: 'bob', password: 'New-secret-pass-7' })).status,
    ).toBe(200);

    expect((await t.request('PATCH', '/api/v1/users/bob', { disabled: true }, as(adminToken))).body.disabled).toBe(
      true,
    );
    expect(
      (await t.request('POST', '/api/v1/auth/login', { username: 'bob', password: 'New-secret-pass-7' })).status,
    ).toBe(401);
    expect((await t.request('PATCH', '/api/v1/users/bob', { colour: 'red' }, as(adminToken))).status).toBe(422);
    expect((await t.request('PATCH', '/api/v1/users/nobody', { disabled: true }, as(adminToken))).status).toBe(404);
    expect((await t.request('DELETE', '/api/v1/users/bob', undefined, as(adminToken))).status).toBe(200);
    expect((await t.request('DELETE', '/api/v1/users/bob', undefined, as(adminToken))).status).toBe(404);
  });

  it('never leaves the platform without an enabled administrator', async () => {
    const demote = await t.request('PATCH', `/api/v1/users/${ADMIN.username}`, { role: 'viewer' }, as(adminToken));
    expect(demote.status).toBe(409);
    expect(demote.body.detail).toMatch(/last enabled administrator/);
    expect((await t.request('DELETE', `/api/v1/users/${ADMIN.username}`, undefined, as(adminToken))).status).toBe(409);
    expect(
      (await t.request('PATCH', `/api/v1/users/${ADMIN.username}`, { disabled: true }, as(adminToken))).status,
    ).toBe(409);
  });
});

describe('API keys', () => {
  let t: TestPlatform;
  const adminKey = { 'X-API-Key': 'bootstrap-admin-key-0123456789' };
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { ADMIN_API_KEY: adminKey['X-API-Key'] });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('mints a scoped key shown once, authenticates with it, lists it without the key, and revokes it', async () => {
    expect((await t.anonymous('POST', '/api/v1/api-keys', { name: 'ci' })).status).toBe(401);
    const both = await t.request(
      'POST',
      '/api/v1/api-keys',
      { name: 'ci', role: 'viewer', permissions: ['bots:read'] },
      adminKey,
    );
    expect(both.status).toBe(422);
    expect(both.body.detail).toMatch(/exactly one of "role".*"permissions"/);
    expect(
      (await t.request('POST', '/api/v1/api-keys', { name: 'ci', permissions: ['launch:missiles'] }, adminKey)).status,
    ).toBe(422);

    const minted = await t.request(
      'POST',
      '/api/v1/api-keys',
      { name: 'ci-deploy', permissions: ['deployments:create'], expires_in_days: 30 },
      adminKey,
    );
    expect(minted.status).toBe(201);
    expect(minted.body.key).toMatch(new RegExp(`^c32_${minted.body.prefix}_`));
    expect(minted.body).toMatchObject({
      name: 'ci-deploy',
      role: null,
      permissions: ['deployments:create'],
      revoked_at: null,
    });
    const ciKey = { 'X-API-Key': minted.body.key as string };

    const me = await t.request('GET', '/api/v1/auth/me', undefined, ciKey);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      type: 'api-key',
      name: 'ci-deploy',
      role: null,
      permissions: ['deployments:create'],
    });
    expect((await t.request('GET', '/api/v1/api-keys', undefined, ciKey)).status).toBe(403);

    const list = await t.request('GET', '/api/v1/api-keys', undefined, adminKey);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(minted.body.key);
    const stored = await t.platform.registry.db
      .selectFrom('api_keys')
      .select('key_hash')
      .where('id', '=', minted.body.id)
      .executeTakeFirstOrThrow();
    expect(stored.key_hash).not.toContain(minted.body.key);

    const revoked = await t.request('DELETE', `/api/v1/api-keys/${minted.body.id}`, undefined, adminKey);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await t.request('GET', '/api/v1/auth/me', undefined, ciKey);
    expect(after.status).toBe(401);
    expect(after.body.detail).toMatch(/unknown, revoked or expired/);
    expect(
      (await t.request('DELETE', '/api/v1/api-keys/00000000-0000-4000-8000-000000000000', undefined, adminKey)).status,
    ).toBe(404);
  });

  it('an expired key stops working, and a role key carries its role', async () => {
    const roleKey = await t.request('POST', '/api/v1/api-keys', { name: 'ops', role: 'operator' }, adminKey);
    expect((await t.request('GET', '/api/v1/auth/me', undefined, { 'X-API-Key': roleKey.body.key })).body.role).toBe(
      'operator',
    );
    await t.platform.registry.db
      .updateTable('api_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', roleKey.body.id)
      .execute();
    expect((await t.request('GET', '/api/v1/auth/me', undefined, { 'X-API-Key': roleKey.body.key })).status).toBe(401);
  });
});

describe('audit log', () => {
  let t: TestPlatform;
  let admin: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password });
    admin = { Authorization: `Bearer ${(await t.request('POST', '/api/v1/auth/login', ADMIN)).body.access_token}` };
  });
  afterAll(async () => {
    await t?.close();
  });

  it('records who changed what, from where, and the result; only admins read it', async () => {
    await t.request('POST', '/api/v1/auth/login', { username: ADMIN.username, password: 'wrong-wrong-wrong' });
    await t.request('POST', '/api/v1/users', { username: 'carol', password: 'Viewer-pass-123', role: 'viewer' }, admin);
    await t.request('POST', '/api/v1/bots/ghost-bot/start');
    const r = await t.request('GET', '/api/v1/audit?limit=50', undefined, admin);
    expect(r.status).toBe(200);
    const entries = r.body.entries as Array<Record<string, any>>;
    expect(entries.find((e) => e.action === 'POST /api/v1/auth/login' && e.result === 'denied')).toMatchObject({
      actor: ADMIN.username,
      status: 401,
      ip: '127.0.0.1',
    });
    expect(entries.find((e) => e.action === 'POST /api/v1/users')).toMatchObject({
      actor: ADMIN.username,
      actor_type: 'user',
      result: 'ok',
      status: 201,
    });
    expect(entries.find((e) => e.action === 'POST /api/v1/bots/:id/start')).toMatchObject({
      target: 'ghost-bot',
      result: 'refused',
      status: 404,
    });
    expect(entries.every((e) => typeof e.request_id === 'string')).toBe(true);
    expect(JSON.stringify(entries)).not.toContain('wrong-wrong-wrong');
    expect(JSON.stringify(entries)).not.toContain('Viewer-pass-123');

    const filtered = await t.request('GET', `/api/v1/audit?result=denied&actor=${ADMIN.username}`, undefined, admin);
    expect(filtered.body.entries.every((e: { result: string }) => e.result === 'denied')).toBe(true);
    const carol = (await t.request('POST', '/api/v1/auth/login', { username: 'carol', password: 'Viewer-pass-123' }))
      .body;
    expect(
      (await t.request('GET', '/api/v1/audit', undefined, { Authorization: `Bearer ${carol.access_token}` })).status,
    ).toBe(403);
    expect((await t.anonymous('GET', '/api/v1/audit')).status).toBe(401);
  });
});
