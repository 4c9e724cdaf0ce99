import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

/**
 * Health rules on real processes: puppet.mjs heartbeats, reports errors and
 * burns CPU as its control file says, so each rule is crossed and then
 * recovered from while the platform watches.
 */
describe('health rules: heartbeats, error rate, CPU', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', { BOT_SAMPLE_INTERVAL_SECONDS: '0.5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A puppet bot and the function that sets what it does next. */
  async function puppet(id: string, spec: Record<string, unknown>, control: Record<string, unknown>) {
    const file = path.join(t.root, `${id}.control.json`);
    const set = (c: Record<string, unknown>) => fs.writeFile(file, JSON.stringify(c));
    await set(control);
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'puppet.mjs',
      env: { CONTROL_FILE: file, BEAT_MS: '300' },
      ...spec,
    });
    expect(created.status).toBe(201);
    return set;
  }
  const bot = async (id: string) => (await t.request('GET', `/api/v1/bots/${id}`)).body;
  const until = (id: string, what: string, ok: (b: any) => boolean, timeoutMs?: number) =>
    waitForBot(t, id, what, ok, timeoutMs);
  const incidents = async (id: string, kind: string) =>
    (await t.request('GET', `/api/v1/incidents?bot_id=${id}&kind=${kind}`)).body.incidents as any[];

  it('a bot with heartbeat_interval_seconds runs at its first heartbeat; silent for three intervals it is restarted with a heartbeat incident', async () => {
    const id = t.uniqueId('beater');
    const set = await puppet(
      id,
      { heartbeat_interval_seconds: 2, heal_policy: { backoff_initial_seconds: 0.2, backoff_jitter: 0 } },
      { silent: true },
    );
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const waiting = await until(id, 'started', (b) => b.pid !== null);
    expect(waiting.status).toBe('deploying');
    expect(waiting.status_reason).toMatch(/waiting for its first heartbeat/);

    await set({});
    const running = await until(id, 'running at its first heartbeat', (b) => b.status === 'running');
    expect(running.pid).toBe(waiting.pid);

    // Hung: alive, but silent.
    const silencedAt = Date.now();
    await set({ silent: true });
    const [lost] = await waitFor(
      async () => {
        const list = await incidents(id, 'heartbeat_lost');
        return list.length ? list : undefined;
      },
      'a heartbeat_lost incident',
      20_000,
    );
    const detectedAfter = (Date.parse(lost.created_at) - silencedAt) / 1000;
    // Three intervals of 2 s, plus at most one 0.5 s sample and the 0.3 s beat period; not sooner than three intervals.
    expect(detectedAfter).toBeGreaterThan(5.5);
    expect(detectedAfter).toBeLessThan(8);
    expect(lost.message).toMatch(
      /sent no heartbeat for [\d.]+s \(3 × its heartbeat_interval_seconds of 2\) while its process is alive/,
    );
    expect(lost.evidence).toMatchObject({ metric: 'heartbeat_age_seconds', limit: 6, pid: running.pid });
    expect(lost.evidence.value).toBeGreaterThan(6);
    expect(lost.evidence.last_log_lines.some((l: string) => l.startsWith('beat 200'))).toBe(true);
    expect(lost.outcome).toMatch(/^restart 1 of at most 5/);
    await waitFor(async () => !isAlive(running.pid), 'the hung process ended');

    // The new instance is still silent: it never becomes running, and is restarted for its missing first heartbeat.
    const second = await until(id, 'a new instance', (b) => b.pid !== null && b.pid !== running.pid);
    expect(second.status).toBe('deploying');
    const noFirst = await waitFor(
      async () => (await incidents(id, 'heartbeat_lost')).find((i) => i.instance_id === second.instance_id),
      'no first heartbeat',
      20_000,
    );
    expect(noFirst.message).toMatch(/sent no first heartbeat within [\d.]+s of starting/);
    expect(noFirst.evidence.last_heartbeat_at).toBeNull();

    await set({});
    const healed = await until(id, 'running again', (b) => b.status === 'running' && b.pid !== second.pid);
    expect(healed.restart_count).toBeGreaterThanOrEqual(2);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await until(id, 'stopped', (b) => b.status === 'stopped');
  });

  it('an error rate over the threshold degrades the bot with an incident; back under it, the bot is running and the incident resolved', async () => {
    const id = t.uniqueId('erring');
    const set = await puppet(
      id,
      { heartbeat_interval_seconds: 1, health_rules: { error_rate_threshold: 0.2 } },
      { requests: 10, errors: 0 },
    );
    expect((await bot(id)).health_rules).toEqual({
      error_rate_threshold: 0.2,
      cpu_pegged_percent: 95,
      cpu_pegged_seconds: 60,
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const running = await until(id, 'running', (b) => b.status === 'running' && b.error_rate === 0);

    await set({ requests: 10, errors: 5 });
    const degraded = await until(id, 'degraded', (b) => b.status === 'degraded');
    expect(degraded.status_reason).toMatch(
      /error rate of 50% in its latest heartbeat, over its error_rate_threshold of 20%/,
    );
    expect(degraded.error_rate).toBe(0.5);
    expect(degraded.pid).toBe(running.pid);
    const [open] = await incidents(id, 'error_rate');
    expect(open).toMatchObject({
      severity: 'warning',
      state: 'open',
      instance_id: running.instance_id,
      evidence: { metric: 'error_rate', value: 0.5, limit: 0.2 },
    });
    expect(open.outcome).toMatch(/^degraded/);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain(`codex32_bot_error_rate{bot_id="${id}"} 0.5`);
    const age = Number(
      new RegExp(`codex32_bot_heartbeat_age_seconds\\{bot_id="${id}"\\} ([\\d.e-]+)`).exec(metrics)?.[1],
    );
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(3);
    expect(metrics).toMatch(/codex32_incidents\{kind="error_rate",severity="warning",state="open"\} [1-9]/);

    await set({ requests: 10, errors: 1 });
    const recovered = await until(id, 'running again', (b) => b.status === 'running');
    expect(recovered).toMatchObject({ pid: running.pid, restart_count: 0, status_reason: null, error_rate: 0.1 });
    const closed = (await t.request('GET', `/api/v1/incidents/${open.id}`)).body;
    expect(closed).toMatchObject({ state: 'resolved', resolved_by: 'codex32' });
    expect(closed.resolution).toMatch(/^recovered: has an error rate of 10% in its latest heartbeat, within/);
    // The history carries the error rate too.
    const h = (await t.request('GET', `/api/v1/bots/${id}/history?window=1m`)).body.samples as Array<{
      error_rate: number | null;
    }>;
    expect(h.map((p) => p.error_rate)).toEqual(expect.arrayContaining([0.5, 0.1]));

    // Degraded again, then stopped: the incident is resolved with the instance.
    await set({ requests: 4, errors: 4 });
    await until(id, 'degraded again', (b) => b.status === 'degraded');
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await until(id, 'stopped', (b) => b.status === 'stopped');
    const all = await incidents(id, 'error_rate');
    expect(all).toHaveLength(2);
    expect(all.every((i) => i.state === 'resolved')).toBe(true);
    expect(all[0].resolution).toMatch(/the instance ended \(stop requested\)/);
  });

  it('CPU pegged for cpu_pegged_seconds degrades the bot; as long under the line, it is running again', async () => {
    const id = t.uniqueId('burner');
    const set = await puppet(id, { health_rules: { cpu_pegged_percent: 50, cpu_pegged_seconds: 2 } }, { burn: false });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const running = await until(id, 'running', (b) => b.status === 'running');
    // A bot that keeps under the line for longer than cpu_pegged_seconds stays running.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await bot(id)).status).toBe('running');

    await set({ burn: true });
    const degraded = await until(id, 'degraded', (b) => b.status === 'degraded');
    expect(degraded.status_reason).toMatch(/used [\d.]+% CPU, at or over 50% of one core, for [2-9]s/);
    const [pegged] = await incidents(id, 'cpu_pegged');
    expect(pegged.evidence).toMatchObject({ metric: 'cpu_load', limit: 50 });
    expect(pegged.evidence.value).toBeGreaterThanOrEqual(50);

    await set({ burn: false });
    const recovered = await until(id, 'running again', (b) => b.status === 'running');
    expect(recovered.pid).toBe(running.pid);
    expect((await t.request('GET', `/api/v1/incidents/${pegged.id}`)).body).toMatchObject({
      state: 'resolved',
      resolved_by: 'codex32',
    });
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await until(id, 'stopped', (b) => b.status === 'stopped');
  });

  it('refuses thresholds out of range, naming the field, and keeps the bot as it was', async () => {
    const id = t.uniqueId('strict');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      health_rules: { cpu_pegged_seconds: 30 },
    });
    for (const bad of [
      { error_rate_threshold: 1.5 },
      { cpu_pegged_percent: 0 },
      { cpu_pegged_seconds: 0.5 },
      { error_rate: 0.1 },
    ]) {
      const r = await t.request('PATCH', `/api/v1/bots/${id}`, { health_rules: bad });
      expect(r.status, JSON.stringify(bad)).toBe(422);
      expect(JSON.stringify(r.body.errors)).toMatch(/health_rules/);
    }
    expect((await bot(id)).health_rules).toEqual({
      error_rate_threshold: 0.25,
      cpu_pegged_percent: 95,
      cpu_pegged_seconds: 30,
    });
  });

  it('PostgreSQL ending every connection of the platform (a restart, a failover) crashes nothing: the next requests work', async () => {
    const id = t.uniqueId('survivor');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    const admin = new pg.Client({ connectionString: t.config.DATABASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await new Promise((r) => setTimeout(r, 300));
    // A query on a connection ended meanwhile may fail once; the platform itself must be alive and recover.
    await waitFor(async () => (await t.anonymous('GET', '/health/ready')).status === 200, 'ready again', 10_000);
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.bot_id).toBe(id);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    await waitFor(async () => (await bot(id)).status === 'running', 'running');
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
