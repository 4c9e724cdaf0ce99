import { describe, expect, it } from 'vitest';
import type { ApplicationFailure } from '@temporalio/common';
import { refusalText } from '../../api/views/refusal.js';
import { REFUSALS } from '../../workflows/messages.js';
import { DEFAULT_HEAL_POLICY, type HealPolicy } from '../../lib/bot-status.js';
import {
  backoffSeconds,
  check,
  healVerdict,
  initialState,
  needsWork,
  upStatus,
  type BotState,
} from '../../workflows/bot-state.js';

/** The lifecycle's pure rules, without Temporal: what the workflow decides from its state. */

const state = (over: Partial<BotState> = {}): BotState => ({ ...initialState('unit-bot', 'general'), ...over });
const instance = { id: 'i-1', pid: 42, processStartTicks: '1', startedAt: '2026-12-03T00:00:00.000Z' };
const policy = (over: Partial<HealPolicy> = {}): HealPolicy => ({ ...DEFAULT_HEAL_POLICY, backoff_jitter: 0, ...over });

describe('needsWork: the difference between desired and observed', () => {
  it('is idle when what is wanted is what runs', () => {
    expect(needsWork(state())).toBe(false);
    expect(needsWork(state({ desired: 'running', status: 'running', instance }))).toBe(false);
    expect(needsWork(state({ desired: 'stopped', status: 'stopped' }))).toBe(false);
  });

  it('works when a bot should run and does not, unless healing gave up', () => {
    expect(needsWork(state({ desired: 'running' }))).toBe(true);
    expect(needsWork(state({ desired: 'running', gaveUp: true, status: 'failed' }))).toBe(false);
  });

  it('works when a bot should be stopped and is not', () => {
    expect(needsWork(state({ desired: 'stopped', status: 'running', instance }))).toBe(true);
    expect(needsWork(state({ desired: 'stopped', status: 'stopping' }))).toBe(true);
  });

  it('works on every pending event or request', () => {
    const running = { desired: 'running' as const, status: 'running' as const, instance };
    expect(needsWork(state({ ...running, deleteRequested: true }))).toBe(true);
    expect(needsWork(state({ ...running, restartRequested: true }))).toBe(true);
    expect(
      needsWork(
        state({ ...running, pendingExit: { instanceId: 'i-1', exitCode: 1, signal: null, reason: 'exited', at: '' } }),
      ),
    ).toBe(true);
    expect(
      needsWork(
        state({
          ...running,
          pendingViolation: { instanceId: 'i-1', rule: 'memory_limit', reason: 'over', evidence: {}, at: '' },
        }),
      ),
    ).toBe(true);
    expect(
      needsWork(
        state({
          ...running,
          conditionChanges: [
            { instanceId: 'i-1', rule: 'error_rate', active: true, reason: 'errors', evidence: {}, at: '' },
          ],
        }),
      ),
    ).toBe(true);
  });

  it('works when a deploying bot got its first heartbeat', () => {
    expect(needsWork(state({ desired: 'running', status: 'deploying', instance, beatInstance: 'i-1' }))).toBe(true);
    expect(needsWork(state({ desired: 'running', status: 'deploying', instance, beatInstance: null }))).toBe(false);
  });
});

/** The refusal's code a validator throws (the failure's type), or null when it lets the command through. */
const refusal = (fn: () => void): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as ApplicationFailure).type ?? 'untyped';
  }
};

describe('check: update validators refuse at once, with a code the API words', () => {
  it('start', () => {
    expect(refusal(() => check.start(state()))).toBeNull();
    expect(refusal(() => check.start(state({ desired: 'running', status: 'running' })))).toBe('already_running');
    expect(refusal(() => check.start(state({ desired: 'running', status: 'failed', gaveUp: true })))).toBeNull();
    expect(refusal(() => check.start(state({ deleteRequested: true })))).toBe('being_deleted');
  });

  it('stop', () => {
    expect(refusal(() => check.stop(state()))).toBe('never_started');
    expect(refusal(() => check.stop(state({ status: 'stopped' })))).toBe('already_stopped');
    expect(refusal(() => check.stop(state({ desired: 'running', status: 'running' })))).toBeNull();
  });

  it('restart', () => {
    expect(refusal(() => check.restart(state({ status: 'stopped' })))).toBe('not_running');
    expect(refusal(() => check.restart(state({ desired: 'running', status: 'running' })))).toBeNull();
  });

  it('delete', () => {
    expect(refusal(() => check.delete(state({ status: 'stopped' })))).toBeNull();
    expect(refusal(() => check.delete(state({ desired: 'stopped', status: 'stopping', instance })))).toBe(
      'still_stopping',
    );
    expect(refusal(() => check.delete(state({ desired: 'running', status: 'running', instance })))).toBe('stop_first');
    expect(refusal(() => check.delete(state({ desired: 'running', status: 'failed', gaveUp: true })))).toBeNull();
  });

  it('carries the status, and every code has its words in the API, with what to do', () => {
    try {
      check.start(state({ desired: 'running', status: 'degraded' }));
    } catch (err) {
      const failure = err as ApplicationFailure;
      expect(refusalText(failure.type ?? undefined, failure.details?.[0], 'unit-bot')).toBe(
        'Bot unit-bot is already degraded. Use POST /api/v1/bots/unit-bot/restart to restart it, or stop it first.',
      );
    }
    for (const code of REFUSALS) expect(refusalText(code, { status: 'running' }, 'b1')).toMatch(/^Bot b1 .+\.$/);
    expect(refusalText('something_else', {}, 'b1')).toBeNull();
  });
});

describe('upStatus: running, or degraded while a rule holds', () => {
  it('names every rule that holds', () => {
    expect(upStatus(state())).toEqual({ status: 'running', reason: null });
    const conditions = {
      error_rate: { reason: 'errors at 40%', since: '', incidentId: 'a' },
      cpu_pegged: { reason: 'CPU pegged', since: '', incidentId: 'b' },
    };
    expect(upStatus(state({ conditions }))).toEqual({ status: 'degraded', reason: 'errors at 40%; CPU pegged' });
  });
});

describe('backoffSeconds: exponential, capped, jittered within the cap', () => {
  it('grows by the factor up to the maximum', () => {
    const p = policy({ backoff_initial_seconds: 1, backoff_factor: 2, backoff_max_seconds: 10 });
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffSeconds(p, n))).toEqual([1, 2, 4, 8, 10, 10]);
  });

  it('moves by at most ±jitter and never past the cap', () => {
    const p = policy({ backoff_initial_seconds: 4, backoff_factor: 1, backoff_max_seconds: 4.5, backoff_jitter: 0.25 });
    expect(backoffSeconds(p, 0, () => 0)).toBe(3);
    expect(backoffSeconds(p, 0, () => 0.5)).toBe(4);
    expect(backoffSeconds(p, 0, () => 1)).toBe(4.5);
    for (let i = 0; i < 1000; i++) {
      const d = backoffSeconds(p, 0);
      expect(d).toBeGreaterThanOrEqual(3);
      expect(d).toBeLessThanOrEqual(4.5);
    }
  });

  it('is 0 for a policy without backoff', () => {
    expect(backoffSeconds(policy({ backoff_initial_seconds: 0, backoff_max_seconds: 0 }), 7)).toBe(0);
  });
});

describe('healVerdict: the heal window', () => {
  const p = policy({ max_restarts: 3, window_seconds: 60, reset_after_seconds: 30 });
  const now = 1_000_000;

  it('forgets restarts older than the window, and gives up at max_restarts within it', () => {
    expect(healVerdict(p, [now - 70_000, now - 61_000], 2, now, 1_000)).toEqual({
      healRestarts: [],
      consecutiveHeals: 2,
      giveUp: false,
    });
    expect(healVerdict(p, [now - 50_000, now - 10_000], 2, now, 1_000)).toMatchObject({ giveUp: false });
    expect(healVerdict(p, [now - 50_000, now - 10_000, now - 1_000], 3, now, 1_000)).toMatchObject({
      healRestarts: [now - 50_000, now - 10_000, now - 1_000],
      giveUp: true,
    });
    expect(healVerdict(p, [now - 60_000, now - 10_000, now - 1_000], 3, now, 1_000)).toMatchObject({
      healRestarts: [now - 10_000, now - 1_000],
      giveUp: false,
    });
  });

  it('starts the backoff over after a long enough run', () => {
    expect(healVerdict(p, [], 5, now, 29_999).consecutiveHeals).toBe(5);
    expect(healVerdict(p, [], 5, now, 30_000).consecutiveHeals).toBe(0);
  });

  it('never heals a bot whose policy allows no restarts', () => {
    expect(healVerdict(policy({ max_restarts: 0 }), [], 0, now, 1_000).giveUp).toBe(true);
  });
});
