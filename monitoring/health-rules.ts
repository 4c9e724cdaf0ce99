import type { Kysely } from 'kysely';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import { heartbeatsOf, type HeartbeatRow } from '../registry/heartbeats.js';
import type { HealthViolation } from '../workflows/messages.js';
import type { Sample } from './sample-store.js';

/** Missed intervals before a bot that heartbeats is restarted. */
const HEARTBEATS_MISSED = 3;

export type ViolationNotifier = (botId: string, violation: HealthViolation) => Promise<void>;

/**
 * Health rules over each round of samples. A rule that fires becomes a signal
 * to the bot's workflow, which heals through the heal policy and records the
 * incident: memory over `resources.memory_limit_mb`, checked at every sample
 * (like PM2's max_memory_restart, which checks every 30 s), and a bot with
 * `heartbeat_interval_seconds` silent for three intervals while its process
 * lives (hung, or deadlocked: what a process manager cannot see).
 */
export class HealthRules {
  /** Instances already reported: one report each, the workflow takes it from there. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly notify: ViolationNotifier,
    private readonly logger: Logger,
  ) {}

  async evaluate(samples: ReadonlyArray<[botId: string, sample: Sample]>): Promise<void> {
    if (samples.length === 0) return;
    const ids = [...new Set(samples.map(([id]) => id))];
    const bots = new Map(
      (await this.db.selectFrom('bots').select(['id', 'resources', 'heartbeat_interval_seconds']).where('id', 'in', ids).execute()).map((r) => [r.id, r]),
    );
    const beats = await heartbeatsOf(this.db, ids.filter((id) => bots.get(id)?.heartbeat_interval_seconds));
    const live = new Set(samples.map(([, s]) => s.instance_id));
    for (const id of this.reported) if (!live.has(id)) this.reported.delete(id);
    for (const [botId, sample] of samples) {
      const bot = bots.get(botId);
      if (!bot || this.reported.has(sample.instance_id)) continue;
      const violation = memoryOver(sample, bot.resources.memory_limit_mb) ?? heartbeatLost(sample, bot.heartbeat_interval_seconds, beats.get(botId));
      if (!violation) continue;
      this.reported.add(sample.instance_id);
      this.logger.warn({ botId, ...violation.evidence }, `bot ${botId} ${violation.reason}: restarting it`);
      void this.notify(botId, violation);
    }
  }
}

function memoryOver(sample: Sample, limit: number | undefined): HealthViolation | null {
  if (!limit || sample.memory_usage_mb <= limit) return null;
  return {
    instanceId: sample.instance_id,
    rule: 'memory_limit',
    reason: `used ${sample.memory_usage_mb} MB of memory, over its memory_limit_mb of ${limit}`,
    evidence: { metric: 'memory_usage_mb', value: sample.memory_usage_mb, limit, sampled_at: new Date(sample.at).toISOString() },
    at: new Date(sample.at).toISOString(),
  };
}

/** Silent for three intervals: since its last heartbeat, or since it started when it never sent one. */
function heartbeatLost(sample: Sample, interval: number | null, beat: HeartbeatRow | undefined): HealthViolation | null {
  if (!interval) return null;
  const startedAt = sample.at - sample.uptime_seconds * 1000;
  const last = beat && beat.instance_id === sample.instance_id ? beat.last_at.getTime() : null;
  const silentMs = sample.at - (last ?? startedAt);
  if (silentMs <= HEARTBEATS_MISSED * interval * 1000) return null;
  const silent = Math.round(silentMs / 100) / 10;
  return {
    instanceId: sample.instance_id,
    rule: 'heartbeat_lost',
    reason: last
      ? `sent no heartbeat for ${silent}s (${HEARTBEATS_MISSED} × its heartbeat_interval_seconds of ${interval}) while its process is alive`
      : `sent no first heartbeat within ${silent}s of starting (${HEARTBEATS_MISSED} × its heartbeat_interval_seconds of ${interval})`,
    evidence: { metric: 'heartbeat_age_seconds', value: silent, limit: HEARTBEATS_MISSED * interval, last_heartbeat_at: last ? new Date(last).toISOString() : null },
    at: new Date(sample.at).toISOString(),
  };
}
