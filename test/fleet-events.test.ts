import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFleetEvents, OrderedPublisher, RedisFleetEvents, type SequencedEvent } from '../lib/fleet-events.js';
import { createLogger } from '../lib/logger.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

const REDIS_URL = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';

describe('fleet events: status changes and incidents as they happen', () => {
  let t: TestPlatform;
  let elsewhere: RedisFleetEvents;
  let redis: Redis;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', { REDIS_URL });
    // Another process's view: its own connection to the same Redis.
    redis = new Redis(REDIS_URL);
    elsewhere = new RedisFleetEvents(redis, createLogger({ LOG_LEVEL: 'warn', NODE_ENV: 'test' }, 'elsewhere'));
  });
  afterAll(async () => {
    await elsewhere?.close();
    redis?.disconnect();
    await t?.close();
  });

  it('a REST start, a kill and a stop arrive in order, numbered per bot, in this process and through Redis in another', async () => {
    const id = t.uniqueId('evented');
    const here: SequencedEvent[] = [];
    const there: SequencedEvent[] = [];
    const offHere = t.platform.events.subscribe((e) => e.bot_id === id && 'seq' in e && here.push(e));
    const offThere = elsewhere.subscribe((e) => e.bot_id === id && 'seq' in e && there.push(e));
    await new Promise((r) => setTimeout(r, 200)); // the subscriber connection subscribes
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      heal_policy: { backoff_initial_seconds: 0.1, backoff_jitter: 0 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const first = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    process.kill(first.pid, 'SIGKILL');
    await waitForBot(t, id, 'running again', (b) => b.status === 'running' && b.pid !== first.pid);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped');
    await waitFor(
      async () =>
        there.length === here.length &&
        here.at(-1)?.kind === 'status' &&
        (here.at(-1) as { status: string }).status === 'stopped',
      'the last event everywhere',
      5_000,
    );

    const seen = here.map((e) => (e.kind === 'status' ? `${e.previous}>${e.status}` : `incident:${e.incident.kind}`));
    expect(seen).toEqual([
      'registered>deploying',
      'deploying>running',
      'incident:process_exited',
      'running>healing',
      'healing>deploying',
      'deploying>running',
      'running>stopping',
      'stopping>stopped',
    ]);
    expect(here.map((e) => e.seq)).toEqual(here.map((_, i) => here[0]!.seq + i));
    expect(there).toEqual(here);
    const incident = here.find((e) => e.kind === 'incident');
    expect(incident).toMatchObject({
      incident: { kind: 'process_exited', severity: 'warning', instance_id: first.instance_id },
    });
    offHere();
    offThere();
  });

  it('a heal without backoff launches at once and records the death beside the launch: incident, instance end and statuses all there, in order', async () => {
    const id = t.uniqueId('instant');
    const here: SequencedEvent[] = [];
    const off = t.platform.events.subscribe((e) => e.bot_id === id && 'seq' in e && here.push(e));
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      heal_policy: { backoff_initial_seconds: 0, backoff_max_seconds: 0, backoff_jitter: 0 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const first = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    await waitFor(
      async () => (await t.request('GET', `/api/v1/bots/${id}/logs`)).body.lines.length > 0,
      'the first line',
    );
    process.kill(first.pid, 'SIGKILL');
    const second = await waitForBot(t, id, 'running again', (b) => b.status === 'running' && b.pid !== first.pid);
    expect(second.restart_count).toBe(1);
    await waitFor(async () => here.length >= 5, 'five events', 5_000);
    expect(
      here.map((e) => (e.kind === 'status' ? `${e.previous}>${e.status}` : `incident:${e.incident.kind}`)),
    ).toEqual([
      'registered>deploying',
      'deploying>running',
      'incident:process_exited',
      'running>deploying',
      'deploying>running',
    ]);
    expect(here[3]).toMatchObject({ reason: 'killed by SIGKILL; restarting now' });
    const [incident] = (await t.request('GET', `/api/v1/incidents?bot_id=${id}`)).body.incidents;
    expect(incident).toMatchObject({
      kind: 'process_exited',
      instance_id: first.instance_id,
      evidence: { signal: 'SIGKILL', pid: first.pid },
      outcome: 'restart 1 of at most 5 within 300s, after 0s',
    });
    // The last lines are the dead instance's, read before the new one wrote to the same log.
    expect(incident.evidence.last_log_lines.join('\n')).toContain(`up ${first.pid}`);
    expect(incident.evidence.last_log_lines.join('\n')).not.toContain(`up ${second.pid}`);
    const k = (await t.request('GET', `/api/v1/bots/${id}/knowledge`)).body;
    expect(k.restarts.recent_instances[1]).toMatchObject({
      instance_id: first.instance_id,
      exit_signal: 'SIGKILL',
      end_reason: 'killed by SIGKILL',
    });
    off();
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});

describe("each bot's events leave in seq order", () => {
  const event = (bot: string, seq: number): SequencedEvent => ({
    kind: 'incident',
    bot_id: bot,
    seq,
    incident: { id: `${seq}`, kind: 'k', severity: 'info', message: 'm', outcome: null, instance_id: null },
    at: '',
  });
  it('holds an event until its predecessor is out, drops repeats, and stops waiting after waitMs', async () => {
    const out: string[] = [];
    const bus = new LocalFleetEvents();
    bus.subscribe((e) => out.push(`${e.bot_id}${'seq' in e ? e.seq : ''}`));
    const p = new OrderedPublisher(bus, () => undefined, 100);
    p.publish(event('a', 1));
    p.publish(event('a', 3));
    p.publish(event('b', 7));
    p.publish(event('a', 2));
    p.publish(event('a', 2));
    await new Promise((r) => setTimeout(r, 10));
    expect(out).toEqual(['a1', 'b7', 'a2', 'a3']);
    p.publish(event('a', 5)); // 4 never comes
    await new Promise((r) => setTimeout(r, 10));
    expect(out).toHaveLength(4);
    await new Promise((r) => setTimeout(r, 150));
    expect(out.at(-1)).toBe('a5');
    p.publish(event('a', 4)); // too late: older than what is out
    await new Promise((r) => setTimeout(r, 10));
    expect(out).toEqual(['a1', 'b7', 'a2', 'a3', 'a5']);
  });
});
