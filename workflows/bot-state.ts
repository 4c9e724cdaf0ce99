import { DEFAULT_HEAL_POLICY, type BotStatus, type DesiredState, type HealPolicy } from '../lib/bot-status.js';
import { ApplicationFailure } from '@temporalio/common';
import type {
  BotStateView,
  DeployRequest,
  HealthCondition,
  HealthViolation,
  InstanceExited,
  Refusal,
  RefusalDetails,
} from './messages.js';

/**
 * Everything the lifecycle workflow knows, as plain JSON: carried across
 * continue-as-new and returned by the state query.
 */
export interface BotState {
  botId: string;
  role: string;
  status: BotStatus;
  desired: DesiredState;
  statusReason: string | null;
  restartCount: number;
  instance: { id: string; pid: number | null; processStartTicks: string | null; startedAt: string } | null;
  launchingId: string | null;
  stoppingId: string | null;
  pendingExit: InstanceExited | null;
  /** Set for bots with heartbeat_interval_seconds: they are running once their first heartbeat arrives. */
  heartbeatIntervalSeconds?: number | null;
  /** The instance whose first heartbeat arrived. */
  beatInstance?: string | null;
  /** A health rule's report about the current instance, waiting to be healed (absent in states carried from before it existed). */
  pendingViolation?: HealthViolation | null;
  /** Degrading rules reported for the current instance, not yet applied (absent in states carried from before they existed). */
  conditionChanges?: HealthCondition[];
  /** Degrading rules that hold for the current instance, by rule, with the incident that records each. */
  conditions?: Record<string, { reason: string; since: string; incidentId: string }>;
  /** Events published so far (status changes, incidents): each carries the next number, per bot (absent in states carried from before). */
  eventSeq?: number;
  restartRequested: boolean;
  deleteRequested: boolean;
  /** Times (ms) of heal restarts, pruned to the policy's window. */
  healRestarts: number[];
  consecutiveHeals: number;
  nextRestartAt: number | null;
  /** Set when healing gave up (or a launch could not work): nothing restarts until an operator starts the bot. */
  gaveUp: boolean;
  healPolicy: HealPolicy;
  /**
   * The deployment this bot reports to: from its deploy update until it
   * releases the bot; `instanceId` is the instance launched for it (reports
   * start with its launch), `token` the last deploy request taken.
   */
  deployment?: { workflowId: string; token: string; instanceId: string | null } | null;
}

export function initialState(botId: string, role: string, status: BotStatus = 'registered'): BotState {
  return {
    botId,
    role,
    status,
    desired: 'stopped',
    statusReason: null,
    restartCount: 0,
    instance: null,
    launchingId: null,
    stoppingId: null,
    pendingExit: null,
    pendingViolation: null,
    restartRequested: false,
    deleteRequested: false,
    healRestarts: [],
    consecutiveHeals: 0,
    nextRestartAt: null,
    gaveUp: false,
    healPolicy: DEFAULT_HEAL_POLICY,
  };
}

/** Something for the main loop to do: the difference between desired and observed. */
export function needsWork(s: BotState): boolean {
  if (s.deleteRequested || s.pendingExit || s.pendingViolation || s.restartRequested || s.conditionChanges?.length)
    return true;
  if (s.instance && s.status === 'deploying' && s.beatInstance === s.instance.id) return true;
  if (s.desired === 'running') return !s.instance && !s.gaveUp;
  return s.instance !== null || (s.status !== 'stopped' && s.status !== 'registered');
}

/**
 * min(initial · factor^n, max), moved by up to ±jitter of itself and kept
 * within the cap. `random` is the workflow's Math.random: seeded by Temporal,
 * so a replay draws the same numbers.
 */
export function backoffSeconds(
  policy: HealPolicy,
  consecutiveHeals: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(
    policy.backoff_initial_seconds * Math.pow(policy.backoff_factor, consecutiveHeals),
    policy.backoff_max_seconds,
  );
  const jitter = policy.backoff_jitter ?? DEFAULT_HEAL_POLICY.backoff_jitter!;
  const moved = Math.min(base * (1 + jitter * (2 * random() - 1)), policy.backoff_max_seconds);
  return Math.round(moved * 100) / 100;
}

/**
 * The heal window when an instance has just ended after running `ranForMs`:
 * the heal restarts still inside the policy's window, the count of heals in
 * a row (back to 0 after a run of at least reset_after_seconds), and whether
 * the policy gives up (max_restarts already used within the window).
 */
export function healVerdict(
  policy: HealPolicy,
  healRestarts: readonly number[],
  consecutiveHeals: number,
  now: number,
  ranForMs: number,
): { healRestarts: number[]; consecutiveHeals: number; giveUp: boolean } {
  const inWindow = healRestarts.filter((t) => now - t < policy.window_seconds * 1000);
  return {
    healRestarts: inWindow,
    consecutiveHeals: ranForMs >= policy.reset_after_seconds * 1000 ? 0 : consecutiveHeals,
    giveUp: inWindow.length >= policy.max_restarts,
  };
}

/** What a bot that is up counts as: running, or degraded while a degrading rule holds (with the reasons). */
export function upStatus(s: BotState): { status: 'running' | 'degraded'; reason: string | null } {
  const held = Object.values(s.conditions ?? {});
  return held.length === 0
    ? { status: 'running', reason: null }
    : { status: 'degraded', reason: held.map((c) => c.reason).join('; ') };
}

export function resetHealing(s: BotState): void {
  s.healRestarts = [];
  s.consecutiveHeals = 0;
  s.gaveUp = false;
}

/** A refusal: its code is the failure's type, the bot's status its details (the API words it). */
function refuse(s: BotState, refusal: Refusal): ApplicationFailure {
  const details: RefusalDetails = { status: s.status };
  return ApplicationFailure.create({
    type: refusal,
    message: `${refusal} (bot ${s.botId} is ${s.status})`,
    details: [details],
    nonRetryable: true,
  });
}

/** Update validators: throw to refuse at once, with the reason's code. */
export const check = {
  start(s: BotState): void {
    if (s.deleteRequested) throw refuse(s, 'being_deleted');
    if (s.desired === 'running' && !s.gaveUp) throw refuse(s, 'already_running');
  },
  stop(s: BotState): void {
    if (s.deleteRequested) throw refuse(s, 'being_deleted');
    if (s.desired === 'stopped') throw refuse(s, s.status === 'registered' ? 'never_started' : 'already_stopped');
  },
  restart(s: BotState): void {
    if (s.deleteRequested) throw refuse(s, 'being_deleted');
    if (s.desired === 'stopped') throw refuse(s, 'not_running');
  },
  deploy(s: BotState, req: DeployRequest): void {
    if (s.deleteRequested) throw refuse(s, 'being_deleted');
    if (s.desired === 'stopped' && !req.startIfStopped) throw refuse(s, 'not_running');
  },
  delete(s: BotState): void {
    if (s.desired === 'stopped' && (s.instance || s.launchingId)) throw refuse(s, 'still_stopping');
    if (s.instance || s.launchingId || (s.desired === 'running' && !s.gaveUp)) throw refuse(s, 'stop_first');
  },
};

export function view(s: BotState): BotStateView {
  return {
    botId: s.botId,
    role: s.role,
    status: s.status,
    desiredState: s.desired,
    statusReason: s.statusReason,
    restartCount: s.restartCount,
    instance: s.instance ? { id: s.instance.id, pid: s.instance.pid, startedAt: s.instance.startedAt } : null,
    healRestartsInWindow: s.healRestarts.length,
    nextRestartAt: s.nextRestartAt === null ? null : new Date(s.nextRestartAt).toISOString(),
    conditions: Object.entries(s.conditions ?? {}).map(([rule, c]) => ({ rule, reason: c.reason, since: c.since })),
    eventSeq: s.eventSeq ?? 0,
  };
}
