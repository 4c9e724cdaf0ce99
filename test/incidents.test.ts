import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

describe('incidents: evidence, incident.jsonl, filters, acknowledge and resolve; bot logs', () => {
  let t: TestPlatform;
  let viewer: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
    expect(
      (
        await t.request('POST', '/api/v1/users', {
          username: 'watcher',
          password: 'Look-But-Never-Touch-9',
          role: 'viewer',
        })
      ).status,
    ).toBe(201);
    const login = await t.request('POST', '/api/v1/auth/login', {
      username: 'watcher',
      password: 'Look-But-Never-Touch-9',
    });
    viewer = { Authorization: `Bearer ${login.body.access_token}` };
  });
  afterAll(async () => {
    await t?.close();
  });

  const crashLoop = async () => {
    const id = t.uniqueId('crashy');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'crash.sh',
      heal_policy: { max_restarts: 1, window_seconds: 60, backoff_initial_seconds: 0.1 },
    });
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'failed', 'failed');
    return id;
  };

  it('an incident about an ended process carries its last output, and is written once to incident.jsonl', async () => {
    const id = await crashLoop();
    const list = await t.request('GET', `/api/v1/incidents?bot_id=${id}`);
    expect(list.status).toBe(200);
    const kinds = list.body.incidents.map((i: { kind: string }) => i.kind);
    expect(kinds).toContain('crash_loop');
    expect(kinds).toContain('process_exited');
    for (const incident of list.body.incidents) {
      expect(incident.state).toBe('open');
      expect(incident.evidence.last_log_lines).toContain('about to fail');
    }
    const lines = readFileSync(path.join(t.config.paths.logsDir, 'incident.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { id: string; bot_id: string; kind: string; evidence: { last_log_lines: string[] } },
      );
    const mine = lines.filter((l) => l.bot_id === id);
    expect(mine.map((l) => l.id).sort()).toEqual(list.body.incidents.map((i: { id: string }) => i.id).sort());
    expect(mine[0]!.evidence.last_log_lines).toContain('about to fail');
  });

  it('filters by kind, severity, state and time, and pages', async () => {
    const id = await crashLoop();
    const q = (query: string) => t.request('GET', `/api/v1/incidents?bot_id=${id}&${query}`);
    const all = (await q('')).body;
    expect(all.total).toBeGreaterThanOrEqual(2);
    const crash = (await q('kind=crash_loop')).body;
    expect(crash.incidents.every((i: { kind: string }) => i.kind === 'crash_loop')).toBe(true);
    const critical = (await q('severity=critical')).body;
    expect(critical.incidents.map((i: { kind: string }) => i.kind)).toEqual(['crash_loop']);
    expect(
      (await q('severity=warning')).body.incidents.every((i: { severity: string }) => i.severity === 'warning'),
    ).toBe(true);
    const newest = all.incidents[0].created_at as string;
    expect((await q(`until=${encodeURIComponent(newest)}`)).body.total).toBe(all.total - 1);
    expect((await q(`since=${encodeURIComponent(newest)}`)).body.incidents[0].id).toBe(all.incidents[0].id);
    const page = (await q('limit=1&offset=1')).body;
    expect(page).toMatchObject({ total: all.total, limit: 1, offset: 1 });
    expect(page.incidents[0].id).toBe(all.incidents[1].id);
    for (const bad of ['severity=fatal', 'state=closed', 'until=yesterday', 'offset=-1'])
      expect((await q(bad)).status, bad).toBe(422);
  });

  it('acknowledge, then resolve with a note; each once, and only with incidents:manage', async () => {
    const id = await crashLoop();
    const [incident] = (await t.request('GET', `/api/v1/incidents?bot_id=${id}&kind=crash_loop`)).body.incidents;
    const at = `/api/v1/incidents/${incident.id}`;
    expect((await t.request('POST', `${at}/acknowledge`, undefined, viewer)).status).toBe(403);
    expect((await t.request('GET', at, undefined, viewer)).body.state).toBe('open');

    const ack = await t.request('POST', `${at}/acknowledge`);
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({
      state: 'acknowledged',
      acknowledged_by: 'api-key:ADMIN_API_KEY',
      resolved_at: null,
    });
    expect(ack.body.next_steps.join(' ')).toContain(`POST ${at}/resolve`);
    const again = await t.request('POST', `${at}/acknowledge`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/already acknowledged|was acknowledged by api-key:ADMIN_API_KEY/i);
    expect((await t.request('GET', `/api/v1/incidents?bot_id=${id}&state=acknowledged`)).body.total).toBe(1);

    expect((await t.request('POST', `${at}/resolve`, { resolution: '' })).status).toBe(422);
    expect((await t.request('POST', `${at}/resolve`, { note: 'x' })).status).toBe(422);
    const resolved = await t.request('POST', `${at}/resolve`, { resolution: 'Fixed the script' });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      state: 'resolved',
      resolved_by: 'api-key:ADMIN_API_KEY',
      resolution: 'Fixed the script',
      acknowledged_by: 'api-key:ADMIN_API_KEY',
    });
    expect((await t.request('POST', `${at}/resolve`)).status).toBe(409);
    expect((await t.request('POST', `${at}/acknowledge`)).status).toBe(409);
    expect(
      (await t.request('GET', `/api/v1/incidents?bot_id=${id}&state=resolved`)).body.incidents.map(
        (i: { id: string }) => i.id,
      ),
    ).toEqual([incident.id]);

    // Resolving an open one acknowledges it too, and works without a body.
    const [other] = (await t.request('GET', `/api/v1/incidents?bot_id=${id}&state=open`)).body.incidents;
    const direct = await t.request('POST', `/api/v1/incidents/${other.id}/resolve`);
    expect(direct.status).toBe(200);
    expect(direct.body).toMatchObject({ state: 'resolved', resolution: null });
    expect(direct.body.acknowledged_at).not.toBeNull();

    expect((await t.request('POST', '/api/v1/incidents/00000000-0000-4000-8000-000000000000/acknowledge')).status).toBe(
      404,
    );
    expect((await t.request('GET', '/api/v1/incidents/not-a-uuid')).status).toBe(422);
    const audit = await t.request('GET', `/api/v1/audit?target=${incident.id}`);
    expect(audit.body.entries.map((e: { action: string; status: number }) => [e.action, e.status])).toContainEqual([
      'POST /api/v1/incidents/:id/resolve',
      200,
    ]);
  });

  it("GET /api/v1/bots/{id}/logs returns the bot's last lines", async () => {
    const id = t.uniqueId('talker');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    expect((await t.request('GET', `/api/v1/bots/${id}/logs`)).body).toMatchObject({
      bot_id: id,
      lines: [],
      count: 0,
      tail: 100,
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitFor(
      async () => (await t.request('GET', `/api/v1/bots/${id}/logs`)).body.count >= 3,
      'three lines of output',
      10_000,
    );
    const logs = await t.request('GET', `/api/v1/bots/${id}/logs?tail=2`, undefined, viewer);
    expect(logs.status).toBe(200);
    expect(logs.body.count).toBe(2);
    expect(logs.body.lines.every((l: string) => l.startsWith('tick'))).toBe(true);
    expect((await t.request('GET', `/api/v1/bots/${id}/logs?tail=0`)).status).toBe(422);
    expect((await t.request('GET', '/api/v1/bots/nobody-here/logs')).status).toBe(404);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
