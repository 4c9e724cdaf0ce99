/** Bot statuses, shared by workflows (no imports allowed here beyond plain TS) and the API. */
export const BOT_STATUSES = [
  'registered',
  'deploying',
  'running',
  'degraded',
  'healing',
  'stopping',
  'stopped',
  'failed',
] as const;
export type BotStatus = (typeof BOT_STATUSES)[number];

export const DESIRED_STATES = ['running', 'stopped'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/** Statuses in which a process (or pod) of the bot is expected to exist. */
export const ACTIVE_STATUSES: readonly BotStatus[] = ['deploying', 'running', 'degraded', 'healing', 'stopping'];

export interface HealPolicy {
  max_restarts: number;
  window_seconds: number;
  backoff_initial_seconds: number;
  backoff_max_seconds: number;
  backoff_factor: number;
  reset_after_seconds: number;
  /** Each delay is moved by up to this fraction either way, so that bots that failed together do not restart in lockstep (absent in policies stored before it existed). */
  backoff_jitter?: number;
}

export const DEFAULT_HEAL_POLICY: HealPolicy = {
  max_restarts: 5,
  window_seconds: 300,
  backoff_initial_seconds: 1,
  backoff_max_seconds: 60,
  backoff_factor: 2,
  reset_after_seconds: 60,
  backoff_jitter: 0.1,
};

/**
 * When a running bot counts as degraded (it keeps running; the status and an
 * incident say so, and both clear when it recovers).
 */
export interface HealthThresholds {
  /** Over this fraction of failed requests in its latest heartbeat (errors / requests). */
  error_rate_threshold: number;
  /** CPU at or over this percent of its cpu_limit (of one core without a limit)... */
  cpu_pegged_percent: number;
  /** ...for this long; as long under it to count as recovered. */
  cpu_pegged_seconds: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  error_rate_threshold: 0.25,
  cpu_pegged_percent: 95,
  cpu_pegged_seconds: 60,
};
