import { sql, type Kysely, type Selectable } from 'kysely';
import type { BotMetricsMinuteTable, Database } from '../registry/database.js';
import type { Sample } from './sample-store.js';

interface Minute {
  samples: number;
  cpuSum: number;
  cpuMax: number;
  memSum: number;
  memMax: number;
  uptime: number;
  errSamples: number;
  errSum: number;
  errMax: number;
}

export type MinuteRow = Omit<Selectable<BotMetricsMinuteTable>, 'bot_id'>;

const MINUTE = 60_000;

/**
 * Folds samples into per-minute rows in PostgreSQL. A minute is written when
 * a sample of a later minute arrives (or at flush); a write merges with what
 * is there, so a worker restart within a minute, or two writers, add up
 * instead of overwriting.
 */
export class MinuteRollups {
  private readonly open = new Map<string, { minute: number; acc: Minute }>();

  constructor(private readonly db: Kysely<Database>) {}

  /** Adds samples; writes the minutes they close. */
  async add(samples: ReadonlyArray<[botId: string, sample: Sample]>): Promise<void> {
    const closed: Array<[string, number, Minute]> = [];
    for (const [botId, s] of samples) {
      const minute = Math.floor(s.at / MINUTE) * MINUTE;
      let entry = this.open.get(botId);
      if (entry && entry.minute !== minute) {
        closed.push([botId, entry.minute, entry.acc]);
        entry = undefined;
      }
      if (!entry) {
        entry = { minute, acc: { samples: 0, cpuSum: 0, cpuMax: 0, memSum: 0, memMax: 0, uptime: 0, errSamples: 0, errSum: 0, errMax: 0 } };
        this.open.set(botId, entry);
      }
      const a = entry.acc;
      a.samples++;
      a.cpuSum += s.cpu_load;
      a.cpuMax = Math.max(a.cpuMax, s.cpu_load);
      a.memSum += s.memory_usage_mb;
      a.memMax = Math.max(a.memMax, s.memory_usage_mb);
      a.uptime = s.uptime_seconds;
      if (s.error_rate !== null) {
        a.errSamples++;
        a.errSum += s.error_rate;
        a.errMax = Math.max(a.errMax, s.error_rate);
      }
    }
    await this.write(closed);
  }

  /** Writes every open minute (at shutdown, and for bots that stopped mid-minute). */
  async flush(olderThanMs = Number.POSITIVE_INFINITY): Promise<void> {
    const closed: Array<[string, number, Minute]> = [];
    for (const [botId, { minute, acc }] of this.open) {
      if (minute < olderThanMs) {
        closed.push([botId, minute, acc]);
        this.open.delete(botId);
      }
    }
    await this.write(closed);
  }

  private async write(rows: Array<[string, number, Minute]>): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(([botId, minute, a]) => ({
      bot_id: botId,
      minute: new Date(minute),
      samples: a.samples,
      cpu_avg: a.cpuSum / a.samples,
      cpu_max: a.cpuMax,
      memory_avg_mb: a.memSum / a.samples,
      memory_max_mb: a.memMax,
      uptime_seconds: a.uptime,
      error_samples: a.errSamples,
      error_rate_avg: a.errSamples ? a.errSum / a.errSamples : null,
      error_rate_max: a.errSamples ? a.errMax : null,
    }));
    // Bots deleted meanwhile have no row to refer to: write only for bots that exist.
    const existing = new Set((await this.db.selectFrom('bots').select('id').where('id', 'in', [...new Set(values.map((v) => v.bot_id))]).execute()).map((r) => r.id));
    const kept = values.filter((v) => existing.has(v.bot_id));
    if (kept.length === 0) return;
    await this.db
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
}

/** Rows of one bot from `since` on, oldest first. */
export async function minuteHistory(db: Kysely<Database>, botId: string, since: Date): Promise<MinuteRow[]> {
  return db
    .selectFrom('bot_metrics_minute')
    .select(['minute', 'samples', 'cpu_avg', 'cpu_max', 'memory_avg_mb', 'memory_max_mb', 'uptime_seconds', 'error_samples', 'error_rate_avg', 'error_rate_max'])
    .where('bot_id', '=', botId)
    .where('minute', '>=', since)
    .orderBy('minute')
    .execute();
}

/** Drops rollups older than the retention; returns how many went. */
export async function pruneRollups(db: Kysely<Database>, retentionDays: number): Promise<number> {
  const r = await db.deleteFrom('bot_metrics_minute').where('minute', '<', new Date(Date.now() - retentionDays * 86_400_000)).executeTakeFirst();
  return Number(r.numDeletedRows);
}
