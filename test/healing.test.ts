import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HEAL_POLICY } from '../lib/bot-status.js';
import { backoffSeconds } from '../workflows/bot-state.js';
import { isAlive, startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

describe('backoff: exponential, capped, with jitter', () => {
  it('stays within ±jitter of min(initial · factor^n, max), and never over the cap', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 3600, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (initial, factor, extra, jitter, n, r) => {
          const policy = {
            ...DEFAULT_HEAL_POLICY,
            backoff_initial_seconds: initial,
            backoff_factor: factor,
            backoff_max_seconds: initial + extra,
            backoff_jitter: jitter,
          };
          const base = Math.min(initial * factor ** n, initial + extra);
          const d = backoffSeconds(policy, n, () => r);
          expect(d).toBeLessThanOrEqual(initial + extra + 0.005);
          expect(d).toBeGreaterThanOrEqual(base * (1 - jitter) - 0.005);
          expect(d).toBeLessThanOrEqual(base * (1 + jitter) + 0.005);
        },
      ),
    );
    // Without jitter, exact; a policy stored before jitter existed gets the default ±10 %.
    expect(backoffSeconds({ ...DEFAULT_HEAL_POLICY, backoff_jitter: 0 }, 3, () => 0.9)).toBe(8);
    const { backoff_jitter: _, ...old } = DEFAULT_HEAL_POLICY;
    expect(backoffSeconds(old, 0, () => 0)).toBe(0.9);
    expect(backoffSeconds(old, 0, () => 0.999999)).toBeCloseTo(1.1, 2);
  });
});

describe('self-healing with the heal policy', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres');
  });
  afterAll(async () => {
    await t?.close();
  });

  const getBot = async (id: string) => (await t.request('GET', `/api/v1/bots/${id}`)).body;
  const incidents = async (id: string) =>
    (await t.request('GET', `/api/v1/incidents?bot_id=${id}`)).body.incidents as Array<Record<string, any>>;
  const instances = (id: string) =>
    t.platform.registry.db.selectFrom('instances').selectAll().where('bot_id', '=', id).orderBy('started_at').execute();

  it('restarts a bot killed with SIGKILL after its backoff, with an incident and restart_count + 1', async () => {
    const id = t.uniqueId('heal');
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Heal me',
      blueprint: 'sleeper.mjs',
      role: 'worker',
      heal_policy: {
        max_restarts: 3,
        window_seconds: 60,
        backoff_initial_seconds: 1,
        backoff_max_seconds: 5,
        backoff_factor: 2,
        reset_after_seconds: 30,
        backoff_jitter: 0,
      },
    });
    expect(created.status).toBe(201);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const first = await waitFor(async () => {
      const b = await getBot(id);
      return b.status === 'running' ? b : undefined;
    }, 'running');

    const killedAt = Date.now();
    process.kill(first.pid, 'SIGKILL');
    const healing = await waitFor(
      async () => {
        const b = await getBot(id);
        return b.status === 'healing' ? b : undefined;
      },
      'healing',
      5_000,
      10,
    );
    expect(healing.status_reason).toMatch(/SIGKILL.*restarting in 1s/);

    const second = await waitFor(
      async () => {
        const b = await getBot(id);
        return b.status === 'running' && b.pid !== first.pid ? b : undefined;
      },
      'running again',
      10_000,
      20,
    );
    const instancesNow = await instances(id);
    const relaunchedAt = instancesNow.at(-1)!.started_at.getTime();
    expect(relaunchedAt - killedAt).toBeGreaterThanOrEqual(950);
    expect(second.restart_count).toBe(1);
    expect(isAlive(second.pid)).toBe(true);

    const found = await incidents(id);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      bot_id: id,
      kind: 'process_exited',
      severity: 'warning',
      instance_id: first.instance_id,
    });
    expect(found[0]!.evidence).toMatchObject({ signal: 'SIGKILL', exit_code: null, pid: first.pid });
    expect(found[0]!.outcome).toMatch(/restart 1 of at most 3/);
    const ended = instancesNow.find((i) => i.id === first.instance_id)!;
    expect(ended.ended_at).not.toBeNull();
    expect(ended.exit_signal).toBe('SIGKILL');

    // The backoff grows for consecutive failures: the second heal waits 2 s.
    process.kill(second.pid, 'SIGKILL');
    await waitFor(
      async () => (await getBot(id)).status_reason?.includes('restarting in 2s'),
      'second backoff of 2 s',
      5_000,
      10,
    );
    await waitFor(
      async () => {
        const b = await getBot(id);
        return b.status === 'running' && b.restart_count === 2 ? b : undefined;
      },
      'healed twice',
      10_000,
    );
  });

  it('gives up on a bot that exits at once after exactly max_restarts restarts, keeps it down, and an operator start resumes it', async () => {
    const id = t.uniqueId('loop');
    const maxRestarts = 3;
    expect(
      (
        await t.request('POST', '/api/v1/bots', {
          id,
          name: 'Crash loop',
          blueprint: 'crash.sh',
          role: 'worker',
          heal_policy: {
            max_restarts: maxRestarts,
            window_seconds: 60,
            backoff_initial_seconds: 0.1,
            backoff_max_seconds: 0.4,
            backoff_factor: 2,
            reset_after_seconds: 30,
          },
        })
      ).status,
    ).toBe(201);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const failed = await waitFor(
      async () => {
        const b = await getBot(id);
        return b.status === 'failed' ? b : undefined;
      },
      'failed',
      20_000,
    );
    expect(failed.restart_count).toBe(maxRestarts);
    expect(failed.desired_state).toBe('running');
    expect(failed.status_reason).toMatch(/gave up after 3 restarts within 60s/);
    expect(failed.pid).toBeNull();

    const found = await incidents(id);
    expect(found.filter((i) => i.kind === 'process_exited')).toHaveLength(maxRestarts);
    const loop = found.filter((i) => i.kind === 'crash_loop');
    expect(loop).toHaveLength(1);
    expect(loop[0]).toMatchObject({ severity: 'critical' });
    expect(loop[0]!.evidence.exit_code).toBe(3);
    expect(found.find((i) => i.kind === 'process_exited')!.evidence.exit_code).toBe(3);

    // Stays down: no further launches.
    const launched = (await instances(id)).length;
    expect(launched).toBe(maxRestarts + 1);
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await instances(id)).length).toBe(launched);
    expect((await getBot(id)).status).toBe('failed');
    const state = await t.botState(id);
    expect(state.status).toBe('failed');

    // An operator fixes the cause and starts it again.
    expect((await t.request('PATCH', `/api/v1/bots/${id}`, { blueprint: 'sleeper.mjs' })).status).toBe(200);
    const start = await t.request('POST', `/api/v1/bots/${id}/start`);
    expect(start.status).toBe(202);
    const resumed = await waitFor(async () => {
      const b = await getBot(id);
      return b.status === 'running' ? b : undefined;
    }, 'running after an operator start');
    expect(isAlive(resumed.pid)).toBe(true);
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitFor(async () => (await getBot(id)).status === 'stopped', 'stopped');
  });

  it('a stop during the backoff cancels the pending restart', async () => {
    const id = t.uniqueId('cancel');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Cancel heal',
      blueprint: 'sleeper.mjs',
      role: 'worker',
      heal_policy: { backoff_initial_seconds: 3, backoff_max_seconds: 3 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const running = await waitFor(async () => {
      const b = await getBot(id);
      return b.status === 'running' ? b : undefined;
    }, 'running');
    process.kill(running.pid, 'SIGKILL');
    await waitFor(async () => (await getBot(id)).status === 'healing', 'healing');
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitFor(async () => (await getBot(id)).status === 'stopped', 'stopped');
    await new Promise((r) => setTimeout(r, 3_500));
    const after = await getBot(id);
    expect(after.status).toBe('stopped');
    expect(after.restart_count).toBe(0);
    expect((await instances(id)).length).toBe(1);
  });

  it('a launch that cannot work fails the bot with a launch_failed incident', async () => {
    const id = t.uniqueId('vanish');
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    const file = path.join(t.config.paths.botsDir, `${id}.sh`);
    await fs.writeFile(file, 'sleep 100\n');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'Vanishing', blueprint: `${id}.sh`, role: 'worker' }))
        .status,
    ).toBe(201);
    await fs.rm(file);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const failed = await waitFor(async () => {
      const b = await getBot(id);
      return b.status === 'failed' ? b : undefined;
    }, 'failed');
    expect(failed.status_reason).toMatch(/does not exist in the bots directory/);
    const found = await incidents(id);
    expect(found.map((i) => i.kind)).toEqual(['launch_failed']);
  });
});
