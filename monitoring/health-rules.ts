import type { Kysely } from 'kysely';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import type { HealthViolation } from '../workflows/messages.js';
import type { Sample } from './sample-store.js';

export type ViolationNotifier = (botId: string, violation: HealthViolation) => Promise<void>;

/**
 * Health rules over each round of samples. A rule that fires becomes a signal
 * to the bot's workflow, which heals through the heal policy and records the
 * incident. So far: memory over `resources.memory_limit_mb`, checked at every
 * sample (like PM2's max_memory_restart, which checks every 30 s).
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
    const limits = new Map(
      (await this.db.selectFrom('bots').select(['id', 'resources']).where('id', 'in', ids).execute()).map((r) => [r.id, r.resources.memory_limit_mb ?? null]),
    );
    const live = new Set(samples.map(([, s]) => s.instance_id));
    for (const id of this.reported) if (!live.has(id)) this.reported.delete(id);
    for (const [botId, sample] of samples) {
      const limit = limits.get(botId);
      if (!limit || sample.memory_usage_mb <= limit || this.reported.has(sample.instance_id)) continue;
      this.reported.add(sample.instance_id);
      const violation: HealthViolation = {
        instanceId: sample.instance_id,
        rule: 'memory_limit',
        reason: `used ${sample.memory_usage_mb} MB of memory, over its memory_limit_mb of ${limit}`,
        evidence: { metric: 'memory_usage_mb', value: sample.memory_usage_mb, limit, sampled_at: new Date(sample.at).toISOString() },
        at: new Date(sample.at).toISOString(),
      };
      this.logger.warn({ botId, ...violation.evidence }, `bot ${botId} ${violation.reason}: restarting it`);
      void this.notify(botId, violation);
    }
  }
}
