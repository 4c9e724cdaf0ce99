import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_PERMISSIONS, type Permission } from '../lib/permissions.js';
import { projectRoot } from '../lib/project-root.js';
import { recordIncident } from '../registry/incidents.js';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

/**
 * Every route × every kind of caller, against the permission table. The
 * expected access of each route is written here, independently of the
 * routes' own declarations; the test also checks that the two agree and
 * that no route of the OpenAPI document is left out. The README's access
 * table is generated from this walk (UPDATE_README=1 rewrites it).
 */

type Need = 'public' | 'signed-in' | 'bot-self' | Permission;
const PRINCIPALS = ['admin', 'operator', 'viewer', 'user', 'anonymous', 'API key', 'CI key'] as const;
type Who = (typeof PRINCIPALS)[number];
const PERMS: Record<Who, readonly Permission[] | null> = {
  admin: ROLE_PERMISSIONS.admin,
  operator: ROLE_PERMISSIONS.operator,
  viewer: ROLE_PERMISSIONS.viewer,
  user: ROLE_PERMISSIONS.user,
  anonymous: null,
  'API key': ROLE_PERMISSIONS.admin,
  'CI key': ['deployments:create'],
};

interface Call {
  path: string;
  body?: unknown;
  /** Replaces the caller's credentials (the refresh route takes a refresh token). */
  headers?: Record<string, string>;
  /** Sent beside the caller's credentials (a binary upload's Content-Type). */
  extraHeaders?: Record<string, string>;
}
interface Route {
  method: string;
  path: string;
  need: Need;
  /** The status when the caller may: the request is valid and its target exists. */
  ok: number;
  /** Overrides `ok` for some callers (API keys have no session to log out of). */
  okFor?: Partial<Record<Who, number>>;
  call: (who: Who) => Promise<Call> | Call;
  /** The answer is an endless stream: only its status and headers are read, then it is closed. */
  stream?: boolean;
  /** After a refused call: the target must be as it was. */
  unchanged?: (who: Who) => Promise<void>;
}

const PASSWORD = 'Matrix-Passw0rd-77';
const slug = (who: Who) => who.toLowerCase().replace(/\s+/g, '-');

describe('route × caller access matrix', () => {
  let t: TestPlatform;
  const creds = new Map<Who, Record<string, string>>();
  const shared = { bot: '', deployment: '', incident: '' };

  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    for (const role of ['operator', 'viewer', 'user'] as const) {
      expect(
        (await t.request('POST', '/api/v1/users', { username: `matrix-${role}`, password: PASSWORD, role })).status,
      ).toBe(201);
    }
    const login = async (username: string, password: string) => {
      const r = await t.request('POST', '/api/v1/auth/login', { username, password });
      expect(r.status).toBe(200);
      return r.body as { access_token: string; refresh_token: string };
    };
    creds.set('admin', { Authorization: `Bearer ${(await login('admin', 'Sturdy-Test-Passw0rd')).access_token}` });
    for (const role of ['operator', 'viewer', 'user'] as const)
      creds.set(role, { Authorization: `Bearer ${(await login(`matrix-${role}`, PASSWORD)).access_token}` });
    creds.set('API key', { 'X-API-Key': t.adminKey });
    const ci = await t.request('POST', '/api/v1/api-keys', { name: 'matrix-ci', permissions: ['deployments:create'] });
    creds.set('CI key', { 'X-API-Key': ci.body.key });

    shared.bot = 'matrix-shared';
    expect(
      (await t.request('POST', '/api/v1/bots', { id: shared.bot, name: 'shared', blueprint: 'sleeper.mjs' })).status,
    ).toBe(201);
    const d = await t.request('POST', '/api/v1/deployments', { bot_id: shared.bot, ref: 'matrix' });
    expect(d.status).toBe(202);
    shared.deployment = d.body.id;
    await t.request('POST', `/api/v1/bots/${shared.bot}/stop`);
    shared.incident = await newIncident('shared');
  });

  /** An open incident of the shared bot, as the worker records them. */
  const newIncident = async (tag: string) => {
    const id = randomUUID();
    await recordIncident(t.platform.registry.db, {
      id,
      bot_id: shared.bot,
      instance_id: null,
      kind: 'process_exited',
      severity: 'warning',
      message: `matrix ${tag}`,
      evidence: '{}',
      outcome: null,
    });
    return id;
  };
  const incidentState = async (id: string) => (await t.request('GET', `/api/v1/incidents/${id}`)).body.state as string;
  afterAll(async () => {
    await t?.close();
  });

  const registerBot = async (id: string, start = false) => {
    expect((await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' })).status).toBe(201);
    if (start) {
      expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
      await waitFor(
        async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'running',
        `${id} running`,
      );
    }
    return id;
  };
  const botExists = (id: string) => async () => expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(200);
  const desired = (id: string, state: string) => async () =>
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.desired_state).toBe(state);

  /** Per caller, the deployment it is asked to cancel. */
  const toCancel = new Map<Who, string>();

  const routes: Route[] = [
    { method: 'GET', path: '/health', need: 'public', ok: 200, call: () => ({ path: '/health' }) },
    { method: 'GET', path: '/health/ready', need: 'public', ok: 200, call: () => ({ path: '/health/ready' }) },
    { method: 'GET', path: '/metrics', need: 'public', ok: 200, call: () => ({ path: '/metrics' }) },
    { method: 'GET', path: '/openapi.json', need: 'public', ok: 200, call: () => ({ path: '/openapi.json' }) },
    { method: 'GET', path: '/docs', need: 'public', ok: 200, call: () => ({ path: '/docs' }) },
    { method: 'GET', path: '/redoc', need: 'public', ok: 200, call: () => ({ path: '/redoc' }) },
    {
      method: 'POST',
      path: '/api/v1/auth/login',
      need: 'public',
      ok: 200,
      call: () => ({ path: '/api/v1/auth/login', body: { username: 'matrix-user', password: PASSWORD } }),
    },
    {
      method: 'POST',
      path: '/api/v1/auth/refresh',
      need: 'public',
      ok: 200,
      call: async () => {
        const pair = await t.request('POST', '/api/v1/auth/login', { username: 'matrix-viewer', password: PASSWORD });
        return { path: '/api/v1/auth/refresh', headers: { Authorization: `Bearer ${pair.body.refresh_token}` } };
      },
    },
    { method: 'GET', path: '/api/v1/auth/me', need: 'signed-in', ok: 200, call: () => ({ path: '/api/v1/auth/me' }) },
    {
      method: 'GET',
      path: '/api/v1/auth/permissions',
      need: 'signed-in',
      ok: 200,
      call: () => ({ path: '/api/v1/auth/permissions' }),
    },
    {
      method: 'POST',
      path: '/api/v1/auth/logout',
      need: 'signed-in',
      ok: 200,
      okFor: { 'API key': 409, 'CI key': 409 },
      call: () => ({ path: '/api/v1/auth/logout', body: {} }),
    },
    { method: 'GET', path: '/api/v1/users', need: 'users:manage', ok: 200, call: () => ({ path: '/api/v1/users' }) },
    {
      method: 'POST',
      path: '/api/v1/users',
      need: 'users:manage',
      ok: 201,
      call: (who) => ({
        path: '/api/v1/users',
        body: { username: `new-${slug(who)}`, password: PASSWORD, role: 'viewer' },
      }),
      unchanged: async (who) =>
        expect((await t.request('PATCH', `/api/v1/users/new-${slug(who)}`, { role: 'user' })).status).toBe(404),
    },
    {
      method: 'PATCH',
      path: '/api/v1/users/{username}',
      need: 'users:manage',
      ok: 200,
      call: async (who) => {
        await t.request('POST', '/api/v1/users', { username: `patch-${slug(who)}`, password: PASSWORD, role: 'user' });
        return { path: `/api/v1/users/patch-${slug(who)}`, body: { role: 'viewer' } };
      },
      unchanged: async (who) => {
        const users = (await t.request('GET', '/api/v1/users')).body.users as Array<{ username: string; role: string }>;
        expect(users.find((u) => u.username === `patch-${slug(who)}`)?.role).toBe('user');
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/users/{username}',
      need: 'users:manage',
      ok: 200,
      call: async (who) => {
        await t.request('POST', '/api/v1/users', { username: `gone-${slug(who)}`, password: PASSWORD, role: 'user' });
        return { path: `/api/v1/users/gone-${slug(who)}` };
      },
      unchanged: async (who) => {
        const users = (await t.request('GET', '/api/v1/users')).body.users as Array<{ username: string }>;
        expect(users.map((u) => u.username)).toContain(`gone-${slug(who)}`);
      },
    },
    {
      method: 'GET',
      path: '/api/v1/api-keys',
      need: 'api-keys:manage',
      ok: 200,
      call: () => ({ path: '/api/v1/api-keys' }),
    },
    {
      method: 'POST',
      path: '/api/v1/api-keys',
      need: 'api-keys:manage',
      ok: 201,
      call: (who) => ({ path: '/api/v1/api-keys', body: { name: `k-${slug(who)}`, role: 'viewer' } }),
    },
    {
      method: 'DELETE',
      path: '/api/v1/api-keys/{id}',
      need: 'api-keys:manage',
      ok: 200,
      call: async (who) => {
        const key = await t.request('POST', '/api/v1/api-keys', { name: `revoke-${slug(who)}`, role: 'user' });
        return { path: `/api/v1/api-keys/${key.body.id}` };
      },
      unchanged: async (who) => {
        const keys = (await t.request('GET', '/api/v1/api-keys')).body.api_keys as Array<{
          name: string;
          revoked_at: string | null;
        }>;
        expect(keys.find((k) => k.name === `revoke-${slug(who)}`)?.revoked_at).toBeNull();
      },
    },
    { method: 'GET', path: '/api/v1/audit', need: 'audit:read', ok: 200, call: () => ({ path: '/api/v1/audit' }) },
    {
      method: 'POST',
      path: '/api/v1/bots',
      need: 'bots:create',
      ok: 201,
      call: (who) => ({
        path: '/api/v1/bots',
        body: { id: `create-${slug(who)}`, name: 'x', blueprint: 'sleeper.mjs' },
      }),
      unchanged: async (who) => expect((await t.request('GET', `/api/v1/bots/create-${slug(who)}`)).status).toBe(404),
    },
    { method: 'GET', path: '/api/v1/bots', need: 'bots:read', ok: 200, call: () => ({ path: '/api/v1/bots' }) },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: `/api/v1/bots/${shared.bot}` }),
    },
    {
      method: 'PATCH',
      path: '/api/v1/bots/{id}',
      need: 'bots:update',
      ok: 200,
      call: async (who) => ({
        path: `/api/v1/bots/${await registerBot(`patch-${slug(who)}`)}`,
        body: { description: 'changed' },
      }),
      unchanged: async (who) =>
        expect((await t.request('GET', `/api/v1/bots/patch-${slug(who)}`)).body.description).toBe(''),
    },
    {
      method: 'DELETE',
      path: '/api/v1/bots/{id}',
      need: 'bots:delete',
      ok: 200,
      call: async (who) => ({ path: `/api/v1/bots/${await registerBot(`delete-${slug(who)}`)}` }),
      unchanged: (who) => botExists(`delete-${slug(who)}`)(),
    },
    {
      method: 'POST',
      path: '/api/v1/bots/{id}/start',
      need: 'bots:operate',
      ok: 202,
      call: async (who) => ({ path: `/api/v1/bots/${await registerBot(`start-${slug(who)}`)}/start` }),
      unchanged: (who) => desired(`start-${slug(who)}`, 'stopped')(),
    },
    {
      method: 'POST',
      path: '/api/v1/bots/{id}/stop',
      need: 'bots:operate',
      ok: 202,
      call: async (who) => ({ path: `/api/v1/bots/${await registerBot(`stop-${slug(who)}`, true)}/stop` }),
      unchanged: (who) => desired(`stop-${slug(who)}`, 'running')(),
    },
    {
      method: 'POST',
      path: '/api/v1/bots/{id}/restart',
      need: 'bots:operate',
      ok: 202,
      call: async (who) => ({ path: `/api/v1/bots/${await registerBot(`restart-${slug(who)}`, true)}/restart` }),
      unchanged: async (who) =>
        expect((await t.request('GET', `/api/v1/bots/restart-${slug(who)}`)).body.restart_count).toBe(0),
    },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}/history',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: `/api/v1/bots/${shared.bot}/history` }),
    },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}/knowledge',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: `/api/v1/bots/${shared.bot}/knowledge` }),
    },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}/logs',
      need: 'bots:logs',
      ok: 200,
      call: () => ({ path: `/api/v1/bots/${shared.bot}/logs` }),
    },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}/logs/stream',
      need: 'bots:logs',
      ok: 200,
      stream: true,
      call: () => ({ path: `/api/v1/bots/${shared.bot}/logs/stream?tail=1` }),
    },
    {
      method: 'GET',
      path: '/api/v1/guide/recommendations',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: '/api/v1/guide/recommendations' }),
    },
    {
      method: 'GET',
      path: '/api/v1/guide/hello',
      need: 'signed-in',
      ok: 200,
      call: () => ({ path: '/api/v1/guide/hello' }),
    },
    {
      method: 'GET',
      path: '/api/v1/guide/onboarding',
      need: 'signed-in',
      ok: 200,
      call: () => ({ path: '/api/v1/guide/onboarding' }),
    },
    {
      method: 'GET',
      path: '/api/v1/guide/status',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: '/api/v1/guide/status' }),
    },
    {
      method: 'GET',
      path: '/api/v1/dashboard',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: '/api/v1/dashboard' }),
    },
    {
      method: 'GET',
      path: '/api/v1/blueprints',
      need: 'bots:create',
      ok: 200,
      call: () => ({ path: '/api/v1/blueprints' }),
    },
    {
      method: 'GET',
      path: '/api/v1/incidents',
      need: 'incidents:read',
      ok: 200,
      call: () => ({ path: '/api/v1/incidents' }),
    },
    {
      method: 'GET',
      path: '/api/v1/incidents/{id}',
      need: 'incidents:read',
      ok: 200,
      call: () => ({ path: `/api/v1/incidents/${shared.incident}` }),
    },
    ...(['acknowledge', 'resolve'] as const).map((action): Route => {
      const made = new Map<Who, string>();
      return {
        method: 'POST',
        path: `/api/v1/incidents/{id}/${action}`,
        need: 'incidents:manage',
        ok: 200,
        call: async (who) => {
          made.set(who, await newIncident(`${action} ${who}`));
          return { path: `/api/v1/incidents/${made.get(who)}/${action}` };
        },
        unchanged: async (who) => expect(await incidentState(made.get(who)!)).toBe('open'),
      };
    }),
    {
      method: 'POST',
      path: '/api/v1/deployments',
      need: 'deployments:create',
      ok: 202,
      call: async (who) => ({
        path: '/api/v1/deployments',
        body: { bot_id: await registerBot(`deploy-${slug(who)}`), ref: who },
      }),
      unchanged: (who) => desired(`deploy-${slug(who)}`, 'stopped')(),
    },
    { method: 'GET', path: '/api/v1/self', need: 'bot-self', ok: 200, call: () => ({ path: '/api/v1/self' }) },
    {
      method: 'POST',
      path: '/api/v1/self/heartbeat',
      need: 'bot-self',
      ok: 200,
      call: () => ({ path: '/api/v1/self/heartbeat', body: {} }),
    },
    {
      method: 'GET',
      path: '/api/v1/deployments',
      need: 'deployments:read',
      ok: 200,
      call: () => ({ path: '/api/v1/deployments' }),
    },
    {
      method: 'GET',
      path: '/api/v1/deployments/{id}',
      need: 'deployments:read',
      ok: 200,
      call: () => ({ path: `/api/v1/deployments/${shared.deployment}` }),
    },
    {
      method: 'GET',
      path: '/api/v1/deployments/{id}/events',
      need: 'deployments:read',
      ok: 200,
      stream: true,
      call: () => ({ path: `/api/v1/deployments/${shared.deployment}/events` }),
    },
    {
      method: 'POST',
      path: '/api/v1/deployments/{id}/cancel',
      need: 'deployments:create',
      ok: 200,
      call: async (who) => {
        const bot = await registerBot(`cancel-${slug(who)}`);
        const d = await t.request('POST', '/api/v1/deployments', {
          bot_id: bot,
          health_gate: { min_healthy_seconds: 300, progress_deadline_seconds: 600 },
        });
        toCancel.set(who, d.body.id);
        return { path: `/api/v1/deployments/${d.body.id}/cancel` };
      },
      unchanged: async (who) =>
        expect((await t.request('GET', `/api/v1/deployments/${toCancel.get(who)}`)).body.outcome).toBeNull(),
    },
    {
      method: 'PUT',
      path: '/api/v1/bots/{id}/artifacts',
      need: 'artifacts:write',
      ok: 201,
      call: (who) => ({
        path: `/api/v1/bots/${shared.bot}/artifacts`,
        body: `echo built for ${who}\n`,
        extraHeaders: { 'content-type': 'application/octet-stream', 'x-filename': `${slug(who)}.sh` },
      }),
    },
    {
      method: 'GET',
      path: '/api/v1/bots/{id}/revisions',
      need: 'bots:read',
      ok: 200,
      call: () => ({ path: `/api/v1/bots/${shared.bot}/revisions` }),
    },
    {
      method: 'POST',
      path: '/api/v1/bots/{id}/rollback',
      need: 'deployments:create',
      ok: 202,
      call: async (who) => {
        const bot = await registerBot(`rollback-${slug(who)}`);
        expect((await t.request('PATCH', `/api/v1/bots/${bot}`, { args: ['--v', '2'] })).status).toBe(200);
        return { path: `/api/v1/bots/${bot}/rollback`, body: { revision: 1 } };
      },
      unchanged: async (who) =>
        expect((await t.request('GET', `/api/v1/bots/rollback-${slug(who)}`)).body.revision).toBe(2),
    },
  ];

  const expected = (route: Route, who: Who): number => {
    const perms = PERMS[who];
    if (route.need === 'public') return route.ok;
    if (!perms) return 401;
    // Only a bot's own token (none of these callers) reaches /api/v1/self.
    if (route.need === 'bot-self') return 403;
    if (route.need !== 'signed-in' && !perms.includes(route.need)) return 403;
    return route.okFor?.[who] ?? route.ok;
  };

  it('covers every operation of the OpenAPI document, with the access each route declares', async () => {
    const doc = (await t.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { 'x-codex32-access'?: string }>>;
    };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op['x-codex32-access']] as const),
    );
    const apiRoutes = documented.filter(([key]) => key.includes(' /api/'));
    expect(Object.fromEntries(apiRoutes)).toEqual(
      Object.fromEntries(
        routes.filter((r) => r.path.startsWith('/api/')).map((r) => [`${r.method} ${r.path}`, r.need]),
      ),
    );
    for (const [key] of documented) expect(routes.map((r) => `${r.method} ${r.path}`)).toContain(key);
  });

  /** A stream's status; its body is read only when it is a refusal (finite JSON). */
  async function openStream(urlPath: string, headers: Record<string, string>) {
    const abort = new AbortController();
    const res = await fetch(`${t.url}${urlPath}`, { headers, signal: abort.signal });
    const body: any = res.status === 200 ? null : await res.json();
    abort.abort();
    return { status: res.status, body, headers: res.headers };
  }

  const walked: Array<{ route: Route; statuses: Record<Who, number> }> = [];

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', async (_name, route) => {
    const statuses = {} as Record<Who, number>;
    for (const who of PRINCIPALS) {
      const call = await route.call(who);
      const headers = { ...(call.headers ?? (who === 'anonymous' ? {} : creds.get(who)!)), ...call.extraHeaders };
      const r = route.stream
        ? await openStream(call.path, headers)
        : call.headers || who === 'anonymous'
          ? await t.anonymous(route.method, call.path, call.body, headers)
          : await t.request(route.method, call.path, call.body, headers);
      statuses[who] = r.status;
      expect(r.status, `${route.method} ${call.path} as ${who}: ${JSON.stringify(r.body).slice(0, 300)}`).toBe(
        expected(route, who),
      );
      if (r.status === 401) expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      if (r.status === 401 || r.status === 403) {
        expect(r.headers.get('content-type')).toContain('application/problem+json');
        expect(r.body.detail).toMatch(/log in|Authenticate|Ask an administrator|CODEX32_BOT_TOKEN/i);
        await route.unchanged?.(who);
      }
    }
    walked.push({ route, statuses });
  });

  it('the README prints the table this walk produced', () => {
    const cell = (route: Route, who: Who) => {
      const s = expected(route, who);
      return s === 401 || s === 403 ? String(s) : s === route.ok ? '✓' : `${s}`;
    };
    const needText = (n: Need) =>
      n === 'public'
        ? 'anyone'
        : n === 'signed-in'
          ? 'signed in'
          : n === 'bot-self'
            ? "the bot's own token"
            : `\`${n}\``;
    const table = [
      `| Route | Needs | ${PRINCIPALS.join(' | ')} |`,
      `|---|---|${PRINCIPALS.map(() => ':-:').join('|')}|`,
      ...routes.map(
        (r) => `| \`${r.method} ${r.path}\` | ${needText(r.need)} | ${PRINCIPALS.map((w) => cell(r, w)).join(' | ')} |`,
      ),
    ].join('\n');
    expect(walked).toHaveLength(routes.length);
    const readmePath = path.join(projectRoot(), 'README.md');
    const readme = readFileSync(readmePath, 'utf8');
    const start = '<!-- access-table:start -->';
    const end = '<!-- access-table:end -->';
    const block = `${start}\n${table}\n${end}`;
    const current = readme.slice(readme.indexOf(start), readme.indexOf(end) + end.length);
    if (process.env.UPDATE_README === '1' && current !== block)
      writeFileSync(readmePath, readme.replace(current, block));
    else expect(current, 'README access table is stale: run npm run docs:access').toBe(block);
  });
});
