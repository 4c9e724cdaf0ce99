import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES, type Permission } from '../lib/permissions.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

/**
 * A grant never exceeds the grantor: every role and every narrow key that
 * may manage keys or users, against every grant there is (a key with each
 * role, a key with each single permission, a user with each role, a user
 * changed to each role, and acting on a user of each role). A grant is
 * allowed exactly when everything it hands over is the caller's own; a
 * refusal is 403 and changes nothing.
 */

const PASSWORD = 'Grants-Passw0rd-19';
const ALL = Object.keys(PERMISSIONS) as Permission[];

interface Caller {
  label: string;
  permissions: readonly Permission[];
  headers: Record<string, string>;
}

describe('grants never exceed the grantor', () => {
  let t: TestPlatform;
  const callers: Caller[] = [];
  let serial = 0;
  const fresh = (prefix: string) => `${prefix}-${++serial}-${Math.random().toString(36).slice(2, 6)}`;

  const login = async (username: string) => {
    const r = await t.anonymous('POST', '/api/v1/auth/login', { username, password: PASSWORD });
    expect(r.status).toBe(200);
    return { Authorization: `Bearer ${r.body.access_token}` };
  };

  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    for (const role of ROLES) {
      const username = `grantor-${role}`;
      expect((await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role })).status).toBe(201);
      callers.push({
        label: `user with role ${role}`,
        permissions: ROLE_PERMISSIONS[role],
        headers: await login(username),
      });
    }
    // Narrow keys: one manage permission alone, and with a little more beside it.
    const narrow: Permission[][] = [
      ['api-keys:manage'],
      ['users:manage'],
      ['api-keys:manage', 'bots:read', 'chat:ask'],
      ['users:manage', 'bots:read', 'incidents:read', 'deployments:read', 'chat:ask', 'metrics:read', 'bots:logs'],
      ['api-keys:manage', 'users:manage', ...ROLE_PERMISSIONS.operator],
    ];
    for (const permissions of narrow) {
      const key = await t.request('POST', '/api/v1/api-keys', { name: `narrow ${callers.length}`, permissions });
      expect(key.status).toBe(201);
      callers.push({
        label: `key with ${permissions.join(', ')}`,
        permissions,
        headers: { 'X-API-Key': key.body.key },
      });
    }
    for (const role of ROLES) {
      const key = await t.request('POST', '/api/v1/api-keys', { name: `role key ${role}`, role });
      callers.push({
        label: `key with role ${role}`,
        permissions: ROLE_PERMISSIONS[role],
        headers: { 'X-API-Key': key.body.key },
      });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  const within = (caller: Caller, wanted: readonly Permission[]) => wanted.every((p) => caller.permissions.includes(p));
  const holds = (caller: Caller, p: Permission) => caller.permissions.includes(p);

  const keyNames = async () =>
    ((await t.request('GET', '/api/v1/api-keys')).body.api_keys as Array<{ name: string }>).map((k) => k.name);
  const userRole = async (username: string) =>
    ((await t.request('GET', '/api/v1/users')).body.users as Array<{ username: string; role: string }>).find(
      (u) => u.username === username,
    )?.role ?? null;

  it('mints a key only with a role or permissions the caller holds', async () => {
    const grants: Array<{ body: Record<string, unknown>; wanted: readonly Permission[] }> = [
      ...ROLES.map((role) => ({ body: { role }, wanted: ROLE_PERMISSIONS[role] })),
      ...ALL.map((p) => ({ body: { permissions: [p] }, wanted: [p] })),
      { body: { permissions: ALL }, wanted: ALL },
    ];
    let checked = 0;
    for (const caller of callers) {
      for (const grant of grants) {
        const name = fresh('minted');
        const r = await t.request('POST', '/api/v1/api-keys', { name, ...grant.body }, caller.headers);
        const expected = !holds(caller, 'api-keys:manage') ? 403 : within(caller, grant.wanted) ? 201 : 403;
        expect(r.status, `${caller.label} mints ${JSON.stringify(grant.body)}`).toBe(expected);
        if (expected === 403 && holds(caller, 'api-keys:manage')) {
          expect(r.body.detail).toMatch(/which your .* does not hold/);
          for (const missing of grant.wanted.filter((p) => !caller.permissions.includes(p)))
            expect(r.body.detail).toContain(`"${missing}"`);
        }
        if (expected === 201) {
          // The key really holds what was granted, and no more.
          const me = await t.anonymous('GET', '/api/v1/auth/permissions', undefined, { 'X-API-Key': r.body.key });
          expect(me.status).toBe(200);
          expect((me.body.permissions as Array<{ name: string }>).map((p) => p.name).sort()).toEqual(
            [...grant.wanted].sort(),
          );
        } else {
          expect(await keyNames()).not.toContain(name);
        }
        checked++;
      }
    }
    expect(checked).toBe(callers.length * grants.length);
  });

  it('creates a user only with a role whose permissions the caller holds', async () => {
    for (const caller of callers) {
      for (const role of ROLES) {
        const username = fresh('made');
        const r = await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role }, caller.headers);
        const expected = !holds(caller, 'users:manage') ? 403 : within(caller, ROLE_PERMISSIONS[role]) ? 201 : 403;
        expect(r.status, `${caller.label} creates a ${role}`).toBe(expected);
        expect(await userRole(username)).toBe(expected === 201 ? role : null);
      }
    }
  });

  it('changes or deletes only users within reach, and only to roles within reach', async () => {
    for (const caller of callers) {
      if (!holds(caller, 'users:manage')) continue;
      for (const from of ROLES) {
        for (const to of ROLES) {
          const username = fresh(`${from}-to-${to}`);
          expect((await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role: from })).status).toBe(
            201,
          );
          const r = await t.request('PATCH', `/api/v1/users/${username}`, { role: to }, caller.headers);
          const allowed = within(caller, ROLE_PERMISSIONS[from]) && within(caller, ROLE_PERMISSIONS[to]);
          expect(r.status, `${caller.label} makes a ${from} a ${to}`).toBe(allowed ? 200 : 403);
          expect(await userRole(username)).toBe(allowed ? to : from);
        }
        // A password reset of a wider account would be a takeover; disabling or deleting it, a lockout.
        const target = fresh(`target-${from}`);
        expect(
          (await t.request('POST', '/api/v1/users', { username: target, password: PASSWORD, role: from })).status,
        ).toBe(201);
        const reach = within(caller, ROLE_PERMISSIONS[from]);
        const reset = await t.request(
          'PATCH',
          `/api/v1/users/${target}`,
          { password: 'Taken-0ver-Passw0rd!' },
          caller.headers,
        );
        expect(reset.status, `${caller.label} resets the password of a ${from}`).toBe(reach ? 200 : 403);
        const oldPassword = await t.anonymous('POST', '/api/v1/auth/login', { username: target, password: PASSWORD });
        expect(oldPassword.status).toBe(reach ? 401 : 200);
        const disable = await t.request('PATCH', `/api/v1/users/${target}`, { disabled: true }, caller.headers);
        expect(disable.status).toBe(reach ? 200 : 403);
        const del = await t.request('DELETE', `/api/v1/users/${target}`, undefined, caller.headers);
        expect(del.status, `${caller.label} deletes a ${from}`).toBe(reach ? 200 : 403);
        expect(await userRole(target)).toBe(reach ? null : from);
      }
    }
  });

  it('records every refused grant in the audit log as denied', async () => {
    const caller = callers.find((c) => c.label === 'key with api-keys:manage')!;
    const r = await t.request('POST', '/api/v1/api-keys', { name: fresh('escalate'), role: 'admin' }, caller.headers);
    expect(r.status).toBe(403);
    const audit = await t.request('GET', `/api/v1/audit?request_id=${r.headers.get('x-request-id')}`);
    expect(audit.status).toBe(200);
    expect(audit.body.entries).toHaveLength(1);
    expect(audit.body.entries[0]).toMatchObject({ action: 'POST /api/v1/api-keys', result: 'denied', status: 403 });
  });
});
