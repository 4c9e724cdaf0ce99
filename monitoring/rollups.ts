import type { Kysely } from 'kysely';
import type { Database } from '../registry/database.js';
import { mergeMinuteRows } from '../registry/metrics.js';
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

const MINUTE = 60_000;

/**
 * Folds samples into per-minute rows in PostgreSQL. A minute is written when
 * a sample of a later minute arrives (or at flush), merged with what is
 * there (see mergeMinuteRows).
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
        entry = {
          minute,
          acc: {
            samples: 0,
            cpuSum: 0,
            cpuMax: 0,
            memSum: 0,
            memMax: 0,
            uptime: 0,
            errSamples: 0,
            errSum: 0,
            errMax: 0,
          },
        };
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
    await mergeMinuteRows(this.db, values);
  }
}
