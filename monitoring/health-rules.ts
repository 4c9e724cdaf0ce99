import type { Kysely } from 'kysely';
import { DEFAULT_HEALTH_THRESHOLDS, type BotStatus, type HealthThresholds } from '../lib/bot-status.js';
import type { Logger } from '../lib/logger.js';
import { healthRulesOf } from '../registry/bots.js';
import type { Database } from '../registry/database.js';
import type { HealthCondition, HealthViolation } from '../workflows/messages.js';
import type { Sample } from './sample-store.js';

/** Missed intervals before a bot that heartbeats is restarted. */
const HEARTBEATS_MISSED = 3;

export interface HealthNotifiers {
  /** A restarting rule fired: the workflow ends the instance and heals it. */
  violation(botId: string, violation: HealthViolation): Promise<void>;
  /** A degrading rule started or stopped holding: the workflow marks the bot degraded, or running again. */
  condition(botId: string, condition: HealthCondition): Promise<void>;
}

/** What a rule says about an instance this round; `pending` means not yet sure either way. */
type Verdict = { state: 'active' | 'clear'; reason: string; evidence: Record<string, unknown> } | { state: 'pending' };

interface Watched {
  /** When the previous sample was taken (the next sample's CPU figure covers the time since). */
  lastAt: number;
  cpuOverSince: number | null;
  cpuUnderSince: number | null;
  /** What each degrading rule was last reported as, to report only changes. */
  reported: Map<string, boolean>;
  /** A restarting rule was reported: once per instance, the workflow takes it from there. */
  restarting: boolean;
}

type BotRules = {
  resources: { memory_limit_mb?: number; cpu_limit?: number };
  heartbeat_interval_seconds: number | null;
  health_rules: Partial<HealthThresholds>;
  status: BotStatus;
};

const pct = (n: number) => `${Math.round(n * 1000) / 10}%`;

/**
 * Health rules over each round of samples; each turns into a signal to the
 * bot's workflow, which acts and records the incident.
 *
 * Restarting rules: memory over `resources.memory_limit_mb`, checked at every
 * sample (PM2's max_memory_restart checks every 30 s); a bot with
 * `heartbeat_interval_seconds` silent for three intervals while its process
 * lives (hung or deadlocked: what a process manager cannot see).
 *
 * Degrading rules (the bot keeps running, as `degraded`, until it recovers):
 * the error rate of its latest heartbeat over `health_rules.error_rate_threshold`;
 * CPU at or over `cpu_pegged_percent` of its limit for `cpu_pegged_seconds`
 * (and as long under it to recover, so that a bot near the line does not flap).
 */
export class HealthRules {
  /** What the rules remember of each sampled instance. */
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly notify: HealthNotifiers,
    private readonly logger: Logger,
  ) {}

  async evaluate(samples: ReadonlyArray<[botId: string, sample: Sample]>): Promise<void> {
    const live = new Set(samples.map(([, s]) => s.instance_id));
    for (const id of this.watched.keys()) if (!live.has(id)) this.watched.delete(id);
    if (samples.length === 0) return;
    const ids = [...new Set(samples.map(([id]) => id))];
    const rows = await healthRulesOf(this.db, ids);
    const bots = new Map<string, BotRules>(rows.map((r) => [r.id, r]));
    for (const [botId, sample] of samples) {
      const bot = bots.get(botId);
      if (!bot) continue;
      let w = this.watched.get(sample.instance_id);
      if (!w) {
        // The first CPU figure of an instance is its average since it started.
        w = {
          lastAt: sample.at - sample.uptime_seconds * 1000,
          cpuOverSince: null,
          cpuUnderSince: null,
          reported: new Map(),
          restarting: false,
        };
        this.watched.set(sample.instance_id, w);
      }
      this.restartIfNeeded(w, botId, bot, sample);
      this.degradeIfNeeded(w, botId, bot, sample);
    }
  }

  private restartIfNeeded(w: Watched, botId: string, bot: BotRules, sample: Sample): void {
    if (w.restarting) return;
    const violation =
      memoryOver(sample, bot.resources.memory_limit_mb) ?? heartbeatLost(sample, bot.heartbeat_interval_seconds);
    if (!violation) return;
    w.restarting = true;
    this.logger.warn({ botId, ...violation.evidence }, `bot ${botId} ${violation.reason}: restarting it`);
    void this.notify.violation(botId, violation);
  }

  private degradeIfNeeded(w: Watched, botId: string, bot: BotRules, sample: Sample): void {
    const limits = { ...DEFAULT_HEALTH_THRESHOLDS, ...bot.health_rules };
    const verdicts: Array<[string, Verdict]> = [
      ['error_rate', errorRateVerdict(sample, limits.error_rate_threshold)],
      ['cpu_pegged', cpuVerdict(w, sample, limits, bot.resources.cpu_limit)],
    ];
    w.lastAt = sample.at;
    for (const [rule, verdict] of verdicts) {
      if (verdict.state === 'pending') continue;
      const active = verdict.state === 'active';
      const before = w.reported.get(rule);
      if (before === active) continue;
      w.reported.set(rule, active);
      // Nothing reported yet for this instance (a new one, or this worker just started): a rule that holds is news;
      // one that does not is news only to a bot shown degraded (what degraded it may have been reported by a worker before this one).
      if (before === undefined && !active && bot.status !== 'degraded') continue;
      if (active) this.logger.warn({ botId, rule, ...verdict.evidence }, `bot ${botId} ${verdict.reason}: degraded`);
      else this.logger.info({ botId, rule }, `bot ${botId} ${verdict.reason}`);
      void this.notify.condition(botId, {
        instanceId: sample.instance_id,
        rule,
        active,
        reason: verdict.reason,
        evidence: verdict.evidence,
        at: new Date(sample.at).toISOString(),
      });
    }
  }
}

function memoryOver(sample: Sample, limit: number | undefined): HealthViolation | null {
  if (!limit || sample.memory_usage_mb <= limit) return null;
  return {
    instanceId: sample.instance_id,
    rule: 'memory_limit',
    reason: `used ${sample.memory_usage_mb} MB of memory, over its memory_limit_mb of ${limit}`,
    evidence: {
      metric: 'memory_usage_mb',
      value: sample.memory_usage_mb,
      limit,
      sampled_at: new Date(sample.at).toISOString(),
    },
    at: new Date(sample.at).toISOString(),
  };
}

/** Silent for three intervals: since its last heartbeat, or since it started when it never sent one. */
function heartbeatLost(sample: Sample, interval: number | null): HealthViolation | null {
  // undefined: the heartbeats could not be read this round, which says nothing about the bot.
  if (!interval || sample.heartbeat_age_seconds === undefined) return null;
  const age = sample.heartbeat_age_seconds;
  const silent = age ?? sample.uptime_seconds;
  const limit = HEARTBEATS_MISSED * interval;
  if (silent <= limit) return null;
  return {
    instanceId: sample.instance_id,
    rule: 'heartbeat_lost',
    reason:
      age !== null
        ? `sent no heartbeat for ${silent}s (${HEARTBEATS_MISSED} × its heartbeat_interval_seconds of ${interval}) while its process is alive`
        : `sent no first heartbeat within ${silent}s of starting (${HEARTBEATS_MISSED} × its heartbeat_interval_seconds of ${interval})`,
    evidence: {
      metric: 'heartbeat_age_seconds',
      value: silent,
      limit,
      last_heartbeat_at: age !== null ? new Date(sample.at - age * 1000).toISOString() : null,
    },
    at: new Date(sample.at).toISOString(),
  };
}

function errorRateVerdict(sample: Sample, threshold: number): Verdict {
  if (sample.heartbeat_age_seconds === undefined) return { state: 'pending' };
  const rate = sample.error_rate;
  const evidence = {
    metric: 'error_rate',
    value: rate,
    limit: threshold,
    sampled_at: new Date(sample.at).toISOString(),
  };
  if (rate === null)
    return { state: 'clear', reason: 'reports no requests in its heartbeats, so no error rate', evidence };
  return rate > threshold
    ? {
        state: 'active',
        reason: `has an error rate of ${pct(rate)} in its latest heartbeat, over its error_rate_threshold of ${pct(threshold)}`,
        evidence,
      }
    : {
        state: 'clear',
        reason: `has an error rate of ${pct(rate)} in its latest heartbeat, within its error_rate_threshold of ${pct(threshold)}`,
        evidence,
      };
}

/** Pegged (or not) once the CPU figure stayed on one side of the line for cpu_pegged_seconds. */
function cpuVerdict(w: Watched, sample: Sample, limits: HealthThresholds, cpuLimit: number | undefined): Verdict {
  const line = limits.cpu_pegged_percent * (cpuLimit ?? 1);
  const of = cpuLimit ? `its cpu_limit of ${cpuLimit} cores` : 'one core';
  const over = sample.cpu_load >= line;
  if (over) {
    w.cpuUnderSince = null;
    w.cpuOverSince ??= w.lastAt;
  } else {
    w.cpuOverSince = null;
    w.cpuUnderSince ??= w.lastAt;
  }
  const since = (over ? w.cpuOverSince : w.cpuUnderSince)!;
  const forMs = sample.at - since;
  if (forMs < limits.cpu_pegged_seconds * 1000) return { state: 'pending' };
  const held = Math.round(forMs / 1000);
  const evidence = {
    metric: 'cpu_load',
    value: sample.cpu_load,
    limit: Math.round(line * 10) / 10,
    for_seconds: held,
    sampled_at: new Date(sample.at).toISOString(),
  };
  return over
    ? {
        state: 'active',
        reason: `used ${sample.cpu_load}% CPU, at or over ${limits.cpu_pegged_percent}% of ${of}, for ${held}s`,
        evidence,
      }
    : {
        state: 'clear',
        reason: `used under ${limits.cpu_pegged_percent}% of ${of} for ${held}s (now ${sample.cpu_load}%)`,
        evidence,
      };
}
