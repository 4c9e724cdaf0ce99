import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

describe('health, OpenAPI and documentation pages', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('liveness and readiness', async () => {
    const live = await t.request('GET', '/health');
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('ok');
    expect(live.headers.get('x-request-id')).toBeTruthy();
    const ready = await t.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.database).toMatchObject({ ok: true, engine: 'pglite' });
    expect(ready.body.checks.temporal).toMatchObject({ ok: true });
  });

  it('the OpenAPI document comes from the zod schemas and covers every route', async () => {
    const doc = await t.request('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.body.paths);
    for (const p of [
      '/api/v1/bots',
      '/api/v1/bots/{id}',
      '/api/v1/bots/{id}/start',
      '/api/v1/bots/{id}/stop',
      '/api/v1/bots/{id}/restart',
      '/api/v1/incidents',
      '/health',
      '/health/ready',
    ]) {
      expect(paths).toContain(p);
    }
    expect(Object.keys(doc.body.paths['/api/v1/bots/{id}'])).toEqual(
      expect.arrayContaining(['get', 'patch', 'delete']),
    );
    const create = doc.body.components.schemas.CreateBot;
    expect(create.additionalProperties).toBe(false);
    expect(create.required).toEqual(expect.arrayContaining(['id', 'name']));
    expect(doc.body.components.schemas.HealPolicy.properties).toHaveProperty('backoff_factor');
    expect(doc.body.paths['/api/v1/bots'].post.responses).toHaveProperty('422');
    expect(doc.body.components.schemas.Problem).toBeTruthy();
    // The guided-response layer is documented once for every success under /api/v1.
    const created = doc.body.paths['/api/v1/bots'].post.responses['201'].content['application/json'].schema;
    expect(created.allOf[1]).toEqual({ $ref: '#/components/schemas/Guidance' });
    expect(doc.body.components.schemas.Guidance.required).toEqual(['message', 'next_steps']);
    expect(doc.body.paths['/health'].get.responses['200'].content['application/json'].schema.allOf).toBeUndefined();
  });

  it('Swagger UI and ReDoc are served with our own assets, no CDN', async () => {
    for (const page of ['/docs', '/redoc']) {
      const res = await fetch(t.url + page);
      expect(res.status).toBe(200);
      const html = await res.text();
      const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(sources.length).toBeGreaterThan(0);
      for (const src of sources) {
        expect(src.startsWith('/')).toBe(true);
        const asset = await fetch(t.url + src);
        expect(asset.status, src).toBe(200);
        expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(30);
      }
    }
  });

  it('exposes Prometheus metrics: requests by route pattern, bots by status, workflow operations', async () => {
    await t.request('GET', '/api/v1/bots/no-such-bot');
    await t.request('POST', '/api/v1/bots/no-such-bot/start');
    await t.anonymous('GET', '/api/v1/auth/me');
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(
      /codex32_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/bots\/:id",status="404"\} \d+/,
    );
    expect(text).not.toContain('no-such-bot');
    expect(text).toMatch(/codex32_bots\{status="running"\} \d+/);
    expect(text).toMatch(/codex32_auth_rejections_total\{status="401"\} [1-9]/);
    expect(text).toContain('codex32_api_process_resident_memory_bytes');
  });

  it('unknown routes answer problem+json', async () => {
    const r = await t.request('GET', '/api/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.detail).toMatch(/openapi\.json/);
  });

  it('incidents filter by bot', async () => {
    const r = await t.request('GET', '/api/v1/incidents?bot_id=nobody');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ incidents: [], total: 0, stats: {}, message: '0 incident(s); this page shows 0.' });
    expect(r.body.help).toMatch(/bot_id/);
    expect((await t.request('GET', '/api/v1/incidents?limit=5000')).status).toBe(422);
  });
});

describe('guided responses', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', {
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD: 'Sturdy-Test-Passw0rd',
      CORS_ORIGINS: 'https://ops.example.com',
    });
  });

  it('answers CORS only for allowed origins, and documents the security schemes', async () => {
    const preflight = (origin: string) =>
      fetch(`${t.url}/api/v1/bots`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
    const allowed = await preflight('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await preflight('https://evil.example.net');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const doc = (await t.request('GET', '/openapi.json')).body;
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'apiKey', name: 'X-API-Key' },
    });
    expect(doc.paths['/api/v1/users'].get.security).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(doc.paths['/api/v1/users'].get.responses).toHaveProperty('403');
    // Every role's access, on every operation.
    const del = doc.paths['/api/v1/bots/{id}'].delete;
    expect(del['x-codex32-access']).toBe('bots:delete');
    expect(del['x-codex32-roles']).toEqual(['admin', 'operator']);
    expect(del.description).toMatch(/Access: permission `bots:delete`.*held by admin, operator/);
    expect(Object.keys(del.responses)).toEqual(
      expect.arrayContaining(['200', '401', '403', '404', '409', '429', '503']),
    );
    expect(del.responses['401'].content['application/problem+json'].schema.$ref).toBe('#/components/schemas/Problem');
    const login = doc.paths['/api/v1/auth/login'].post;
    expect(login.security).toBeUndefined();
    expect(login['x-codex32-access']).toBe('public');
    expect(login.responses).not.toHaveProperty('403');
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>)) {
      if (!p.startsWith('/api/v1/')) continue;
      for (const [method, op] of Object.entries(ops)) expect(op['x-codex32-access'], `${method} ${p}`).toBeDefined();
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every answer carries a message and next steps for the state it describes; lists carry stats and help', async () => {
    const id = t.uniqueId('guide');
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Guided',
      blueprint: 'sleeper.mjs',
      role: 'g',
    });
    expect(created.body.message).toMatch(/registered/);
    expect(created.body.next_steps).toContain(`Start it: POST /api/v1/bots/${id}/start`);
    const read = await t.request('GET', `/api/v1/bots/${id}`);
    expect(read.body.message).toBe(`Bot ${id} is registered.`);
    const list = await t.request('GET', '/api/v1/bots');
    expect(list.body.stats.registered).toBeGreaterThanOrEqual(1);
    expect(list.body.help).toMatch(/\?status=/);
    expect(list.body.message).toMatch(/bot\(s\)/);
    const missing = await t.request('GET', '/api/v1/bots/no-such-bot');
    expect(missing.status).toBe(404);
    expect(missing.body.next_steps).toContain('List what exists: GET /api/v1/bots');
  });

  it('leaves out steps the caller may not take', async () => {
    const admin = {
      Authorization: `Bearer ${(await t.request('POST', '/api/v1/auth/login', { username: 'admin', password: 'Sturdy-Test-Passw0rd' })).body.access_token}`,
    };
    await t.request('POST', '/api/v1/users', { username: 'vera', password: 'Viewer-pass-123', role: 'viewer' }, admin);
    const users = await t.request('GET', '/api/v1/users', undefined, admin);
    expect(users.body.stats).toEqual({ admin: 1, viewer: 1 });
    expect(users.body.next_steps).toEqual(['Create a user: POST /api/v1/users']);
    const forbidden = await t.request('GET', '/api/v1/users', undefined, {
      Authorization: `Bearer ${(await t.request('POST', '/api/v1/auth/login', { username: 'vera', password: 'Viewer-pass-123' })).body.access_token}`,
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.next_steps).toEqual(['See what you may do: GET /api/v1/auth/permissions']);
  });
});
