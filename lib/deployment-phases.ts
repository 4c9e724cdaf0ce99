/**
 * What a deployment goes through, shared by the deployment workflow (no
 * imports beyond plain TS here) and the API.
 */
export const DEPLOYMENT_PHASES = [
  'pending',
  'applying',
  'verifying',
  'succeeded',
  'rolling_back',
  'rolled_back',
  'failed',
  'superseded',
  'cancelled',
] as const;
export type DeploymentPhase = (typeof DEPLOYMENT_PHASES)[number];

/** While a deployment is in one of these, it is the bot's only one (the database enforces it). */
export const ACTIVE_PHASES = [
  'pending',
  'applying',
  'verifying',
  'rolling_back',
] as const satisfies readonly DeploymentPhase[];

export function isTerminalPhase(phase: string): boolean {
  return !(ACTIVE_PHASES as readonly string[]).includes(phase);
}

/** When a new revision counts as healthy: up, and still up `min_healthy_seconds` later, before `progress_deadline_seconds`. */
export interface HealthGate {
  min_healthy_seconds: number;
  progress_deadline_seconds: number;
  /** errors / requests over the new instance's heartbeats; null: the bot's own error_rate_threshold. */
  max_error_rate: number | null;
}

export const DEFAULT_HEALTH_GATE: HealthGate = {
  min_healthy_seconds: 10,
  progress_deadline_seconds: 120,
  max_error_rate: null,
};

/** A revision that ran at least this long and was then stopped on request (not by a crash) ran healthy. */
export const RAN_HEALTHY_SECONDS = 10;

/** Why a revision did not pass its gate: the rule that failed, in words, and what was seen. */
export interface GateFailure {
  /** exited (or the health rule that ended it: heartbeat_lost, memory_limit, ...), degraded, launch_failed, not_running, stopped, progress_deadline, error_rate, refused */
  rule: string;
  detail: string;
  evidence: Record<string, unknown>;
  /** An operator stopped the bot: not a bad build, so nothing is rolled back. */
  stoppedByOperator?: boolean;
}
