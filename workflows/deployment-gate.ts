import type { GateFailure, HealthGate } from '../lib/deployment-phases.js';
import type { BotObservation } from './messages.js';

export type { GateFailure };

/** What the gate knows of the instance launched for the revision under test. */
export interface GateState {
  instanceId: string | null;
  /** When (ms) it was last seen up (running, not degraded); null while it is not. */
  upSince: number | null;
  lastStatus: string | null;
  lastReason: string | null;
  failure: GateFailure | null;
}

export function newGate(): GateState {
  return { instanceId: null, upSince: null, lastStatus: null, lastReason: null, failure: null };
}

/** Takes one report of the bot's lifecycle; the first failure is the one that counts. Up since when the lifecycle saw it (`o.at`), at most `now`. */
export function observeGate(g: GateState, o: BotObservation, now: number): void {
  if (g.failure) return;
  if (o.kind === 'ended') {
    const how = o.signal ? `signal ${o.signal}` : o.exitCode !== null ? `exit code ${o.exitCode}` : 'ended';
    g.failure = {
      rule: o.rule === 'process_exited' ? 'exited' : o.rule,
      detail: `the new instance ${o.rule === 'process_exited' ? 'exited' : 'was ended'}: ${o.reason}`,
      evidence: { instance_id: o.instanceId, exit_code: o.exitCode, signal: o.signal, ended: how },
    };
    g.upSince = null;
    return;
  }
  if (o.instanceId) g.instanceId = o.instanceId;
  g.lastStatus = o.status;
  g.lastReason = o.reason;
  switch (o.status) {
    case 'running':
      g.upSince ??= Math.min(o.at, now);
      return;
    case 'deploying':
      g.upSince = null;
      return;
    case 'degraded':
      g.failure = {
        rule: 'degraded',
        detail: `the new instance degraded: ${o.reason ?? 'a health rule holds'}`,
        evidence: { instance_id: g.instanceId, status: o.status, reason: o.reason },
      };
      return;
    case 'failed':
      g.failure = {
        rule: 'launch_failed',
        detail: `the new revision could not run: ${o.reason ?? 'failed'}`,
        evidence: { instance_id: g.instanceId, status: o.status, reason: o.reason },
      };
      return;
    default:
      // healing, stopping, stopped: it is not up any more.
      g.failure = {
        rule: o.desired === 'stopped' ? 'stopped' : 'not_running',
        detail:
          o.desired === 'stopped'
            ? 'the bot was stopped while its new revision was being verified'
            : `the new instance is ${o.status}: ${o.reason ?? 'no reason given'}`,
        evidence: { instance_id: g.instanceId, status: o.status, reason: o.reason },
        ...(o.desired === 'stopped' ? { stoppedByOperator: true } : {}),
      };
      g.upSince = null;
  }
}

/**
 * Where the gate stands at `now`: failed, up long enough (the figures decide
 * the rest), past the deadline, or waiting until `wakeAt`.
 */
export function gateVerdict(
  g: GateState,
  gate: HealthGate,
  startedAt: number,
  now: number,
):
  | { verdict: 'failed' }
  | { verdict: 'healthy_long_enough' }
  | { verdict: 'deadline' }
  | { verdict: 'wait'; wakeAt: number } {
  if (g.failure) return { verdict: 'failed' };
  const deadline = startedAt + gate.progress_deadline_seconds * 1000;
  if (g.upSince !== null && now - g.upSince >= gate.min_healthy_seconds * 1000)
    return { verdict: 'healthy_long_enough' };
  if (now >= deadline) return { verdict: 'deadline' };
  const healthyAt = g.upSince !== null ? g.upSince + gate.min_healthy_seconds * 1000 : Infinity;
  return { verdict: 'wait', wakeAt: Math.min(deadline, healthyAt) };
}

/** Words for a gate that ran out of time, from what it last saw. */
export function deadlineFailure(g: GateState, gate: HealthGate): GateFailure {
  const seen =
    g.lastStatus === null
      ? 'the new instance never started'
      : g.lastStatus === 'deploying'
        ? `the new instance never came up (${g.lastReason ?? 'deploying'})`
        : `the new instance did not stay up for ${gate.min_healthy_seconds} s in a row`;
  return {
    rule: 'progress_deadline',
    detail: `not healthy within progress_deadline_seconds (${gate.progress_deadline_seconds} s): ${seen}`,
    evidence: { instance_id: g.instanceId, last_status: g.lastStatus, last_reason: g.lastReason },
  };
}
