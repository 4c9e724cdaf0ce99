import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { ROLES } from '../lib/permissions.js';
import { isLoopbackHost, loadConfig } from '../lib/config.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';
import { Client, refusal } from './helpers/socket-client.js';

const PASSWORD = 'Identity-Passw0rd-31';

describe('identity, not name: a user deleted and created again starts with none of the old sessions', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  const login = async (username: string) => {
    const r = await t.anonymous('POST', '/api/v1/auth/login', { username, password: PASSWORD });
    expect(r.status).toBe(200);
    return r.body as { access_token: string; refresh_token: string };
  };

  it('old access and refresh tokens are refused (401) after the name is taken again', async () => {
    const username = t.uniqueId('reborn');
    const first = await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role: 'operator' });
    expect(first.status).toBe(201);
    const old = await login(username);
    expect(decodeJwt(old.access_token).sub).toBe(first.body.id);
    const me = await t.anonymous('GET', '/api/v1/auth/me', undefined, { Authorization: `Bearer ${old.access_token}` });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ type: 'user', id: first.body.id, name: username, role: 'operator' });

    expect((await t.request('DELETE', `/api/v1/users/${username}`)).status).toBe(200);
    const again = await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role: 'operator' });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);

    const oldAccess = await t.anonymous('GET', '/api/v1/bots', undefined, {
      Authorization: `Bearer ${old.access_token}`,
    });
    expect(oldAccess.status).toBe(401);
    expect(oldAccess.headers.get('www-authenticate')).toBe('Bearer realm="codex32"');
    const oldRefresh = await t.anonymous('POST', '/api/v1/auth/refresh', undefined, {
      Authorization: `Bearer ${old.refresh_token}`,
    });
    expect(oldRefresh.status).toBe(401);
    expect(oldRefresh.headers.get('www-authenticate')).toBe('Bearer realm="codex32"');
    expect(
      await refusal(Client.open(`${t.url.replace('http', 'ws')}/ws/command/${username}?token=${old.access_token}`)),
    ).toBe(401);

    // The new user's own sessions work, by name or by id on the socket.
    const fresh = await login(username);
    expect(
      (await t.anonymous('GET', '/api/v1/bots', undefined, { Authorization: `Bearer ${fresh.access_token}` })).status,
    ).toBe(200);
    for (const path of [username, again.body.id as string]) {
      const socket = await Client.open(`${t.url.replace('http', 'ws')}/ws/command/${path}?token=${fresh.access_token}`);
      expect((await socket.ask('help')).type).toBe('reply');
      socket.close();
    }
  });

  it('a user keeps its id through role changes and password resets', async () => {
    const username = t.uniqueId('stays');
    const created = await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role: 'viewer' });
    await t.request('PATCH', `/api/v1/users/${username}`, { role: 'operator', password: 'Another-Passw0rd-32' });
    const listed = (await t.request('GET', '/api/v1/users')).body.users.find(
      (u: { username: string }) => u.username === username,
    );
    expect(listed).toMatchObject({ id: created.body.id, role: 'operator' });
  });
});

describe('fleet events reach a socket only under the permissions REST asks for', () => {
  let t: TestPlatform;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { ENABLE_VOICE_INPUT: 'false' });
    for (const role of ROLES) {
      const username = `events-${role}`;
      expect((await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role })).status).toBe(201);
      tokens[role] = (
        await t.anonymous('POST', '/api/v1/auth/login', { username, password: PASSWORD })
      ).body.access_token;
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every role gets the status changes it may read; incidents only with incidents:read', async () => {
    const id = t.uniqueId('events');
    expect(
      (
        await t.request('POST', '/api/v1/bots', {
          id,
          name: 'events',
          blueprint: 'sleeper.mjs',
          heal_policy: { backoff_initial_seconds: 0, backoff_max_seconds: 0 },
        })
      ).status,
    ).toBe(201);
    const sockets = new Map<string, Client>();
    for (const role of ROLES) {
      const c = await Client.open(`${t.url.replace('http', 'ws')}/ws/command/events-${role}?token=${tokens[role]}`);
      const reply = await c.ask({ type: 'subscribe', bots: [id] });
      expect(reply.type).toBe('reply');
      if (role === 'user') {
        expect(reply.data.events).toEqual(['status', 'deleted']);
        expect(reply.text).toMatch(/Incidents and deployment steps are not sent: your access does not cover them/);
      } else {
        expect(reply.data.events).toEqual(['status', 'incident', 'deployment', 'deleted']);
      }
      sockets.set(role, c);
    }
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const running = await waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid);
    process.kill(running.pid, 'SIGKILL');
    await waitForBot(t, id, 'healed', (b) => b.status === 'running' && b.pid && b.pid !== running.pid);
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped');

    const events = (role: string) => sockets.get(role)!.frames.filter((f) => f.type === 'event' && f.bot_id === id);
    await waitFor(
      async () => ROLES.every((r) => events(r).some((e) => e.kind === 'status' && e.status === 'stopped')),
      'every socket saw stopped',
    );
    const statuses = (role: string) =>
      events(role)
        .filter((e) => e.kind === 'status')
        .map((e) => e.seq);
    for (const role of ROLES) {
      expect(statuses(role), role).toEqual(statuses('admin'));
      const incidents = events(role).filter((e) => e.kind === 'incident');
      if (role === 'user') expect(incidents, role).toEqual([]);
      else
        expect(
          incidents.map((e) => (e.incident as { kind: string }).kind),
          role,
        ).toContain('process_exited');
    }
    // REST agrees: the user role may not list incidents.
    expect(
      (
        await t.anonymous('GET', `/api/v1/incidents?bot_id=${id}`, undefined, {
          Authorization: `Bearer ${tokens.user}`,
        })
      ).status,
    ).toBe(403);
    // A deletion reaches every subscriber, whoever deleted it.
    expect((await t.request('DELETE', `/api/v1/bots/${id}`)).status).toBe(200);
    await waitFor(
      async () => ROLES.every((r) => events(r).some((e) => e.kind === 'deleted')),
      'every socket saw the deletion',
    );
    for (const c of sockets.values()) c.close();
  });
});

describe('/metrics asks for credentials unless the API listens on loopback only', () => {
  it('resolves METRICS_AUTH from API_HOST when it is not set', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.0.0.53'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'api.example.com']) expect(isLoopbackHost(host), host).toBe(false);
    expect(loadConfig({}).METRICS_AUTH).toBe(false);
    expect(loadConfig({ API_HOST: '0.0.0.0' }).METRICS_AUTH).toBe(true);
    expect(loadConfig({ API_HOST: '0.0.0.0', METRICS_AUTH: 'false' }).METRICS_AUTH).toBe(false);
    expect(loadConfig({ API_HOST: '127.0.0.1', METRICS_AUTH: 'true' }).METRICS_AUTH).toBe(true);
  });

  it('on all interfaces: 401 without credentials, 200 with a metrics:read key as X-API-Key or as a bearer token', async () => {
    const t = await startTestPlatform('pglite', { API_HOST: '0.0.0.0' });
    try {
      const anonymous = await t.anonymous('GET', '/metrics');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="codex32"');
      expect(JSON.stringify(anonymous.body)).not.toContain('codex32_bot');
      const key = (await t.request('POST', '/api/v1/api-keys', { name: 'prometheus', permissions: ['metrics:read'] }))
        .body.key as string;
      const viaHeader = await t.anonymous('GET', '/metrics', undefined, { 'X-API-Key': key });
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.body).toMatch(/codex32_/);
      expect((await t.anonymous('GET', '/metrics', undefined, { Authorization: `Bearer ${key}` })).status).toBe(200);
      const narrow = (await t.request('POST', '/api/v1/api-keys', { name: 'no-metrics', permissions: ['bots:read'] }))
        .body.key as string;
      expect((await t.anonymous('GET', '/metrics', undefined, { 'X-API-Key': narrow })).status).toBe(403);
    } finally {
      await t.close();
    }
  });
});
