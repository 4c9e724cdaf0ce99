import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { BotMetricsMinuteTable, Database } from './database.js';
import { existingBotIds } from './bots.js';

export type MinuteRow = Omit<Selectable<BotMetricsMinuteTable>, 'bot_id'>;

/**
 * Writes minute rows, each merged with a row of the same bot and minute
 * already there (a worker restart within a minute, or two writers, add up
 * instead of overwriting). Rows of bots deleted meanwhile are left out: they
 * have no bot to refer to.
 */
export async function mergeMinuteRows(
  db: Kysely<Database>,
  values: Array<Insertable<BotMetricsMinuteTable>>,
): Promise<void> {
  const existing = await existingBotIds(db, [...new Set(values.map((v) => v.bot_id))]);
  const kept = values.filter((v) => existing.has(v.bot_id));
  if (kept.length === 0) return;
  await db
    .insertInto('bot_metrics_minute')
    .values(kept)
    .onConflict((oc) =>
      oc.columns(['bot_id', 'minute']).doUpdateSet({
        cpu_avg: sql`(bot_metrics_minute.cpu_avg * bot_metrics_minute.samples + excluded.cpu_avg * excluded.samples) / (bot_metrics_minute.samples + excluded.samples)`,
        memory_avg_mb: sql`(bot_metrics_minute.memory_avg_mb * bot_metrics_minute.samples + excluded.memory_avg_mb * excluded.samples) / (bot_metrics_minute.samples + excluded.samples)`,
        cpu_max: sql`greatest(bot_metrics_minute.cpu_max, excluded.cpu_max)`,
        memory_max_mb: sql`greatest(bot_metrics_minute.memory_max_mb, excluded.memory_max_mb)`,
        uptime_seconds: sql`greatest(bot_metrics_minute.uptime_seconds, excluded.uptime_seconds)`,
        // greatest() skips nulls; the average weighs each side by its samples that had a rate.
        error_rate_avg: sql`case when bot_metrics_minute.error_samples + excluded.error_samples = 0 then null
          else (coalesce(bot_metrics_minute.error_rate_avg, 0) * bot_metrics_minute.error_samples + coalesce(excluded.error_rate_avg, 0) * excluded.error_samples)
            / (bot_metrics_minute.error_samples + excluded.error_samples) end`,
        error_rate_max: sql`greatest(bot_metrics_minute.error_rate_max, excluded.error_rate_max)`,
        error_samples: sql`bot_metrics_minute.error_samples + excluded.error_samples`,
        samples: sql`bot_metrics_minute.samples + excluded.samples`,
      }),
    )
    .execute();
}

/** Rows of one bot from `since` on, oldest first. */
export async function minuteHistory(db: Kysely<Database>, botId: string, since: Date): Promise<MinuteRow[]> {
  return db
    .selectFrom('bot_metrics_minute')
    .select([
      'minute',
      'samples',
      'cpu_avg',
      'cpu_max',
      'memory_avg_mb',
      'memory_max_mb',
      'uptime_seconds',
      'error_samples',
      'error_rate_avg',
      'error_rate_max',
    ])
    .where('bot_id', '=', botId)
    .where('minute', '>=', since)
    .orderBy('minute')
    .execute();
}

/** Drops rollups older than the retention; returns how many went. */
export async function pruneRollups(db: Kysely<Database>, retentionDays: number): Promise<number> {
  const r = await db
    .deleteFrom('bot_metrics_minute')
    .where('minute', '<', new Date(Date.now() - retentionDays * 86_400_000))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
