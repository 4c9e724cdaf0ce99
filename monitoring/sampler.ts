import type { Kysely } from 'kysely';
import type { BotRuntime, InstanceRef } from '../runtime/types.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import { heartbeatsOf } from '../registry/heartbeats.js';
import { CpuLoadTracker } from './cpu-load.js';
import { pruneRollups } from '../registry/metrics.js';
import { MinuteRollups } from './rollups.js';
import type { Sample, SampleStore } from './sample-store.js';

export interface SamplerOptions {
  runtime: BotRuntime;
  store: SampleStore;
  db: Kysely<Database>;
  logger: Logger;
  intervalMs: number;
  retentionDays: number;
  /** Every round of samples, as it is taken (health rules look at them). */
  onSamples?: (samples: ReadonlyArray<[botId: string, sample: Sample]>) => Promise<void>;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const HOUR = 3_600_000;

/**
 * Reads CPU, memory and uptime of every instance the runtime watches, every
 * `intervalMs`: into the sample store (latest and recent), and folded into
 * per-minute rollups in the database, pruned after `retentionDays`.
 */
export class Sampler {
  private readonly cpu = new CpuLoadTracker();
  private readonly rollups: MinuteRollups;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private lastPrune = 0;

  constructor(private readonly opts: SamplerOptions) {
    this.rollups = new MinuteRollups(opts.db);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A slow tick (database, Redis) is not stacked on by the next one.
      if (this.ticking) return;
      this.ticking = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.logger.warn({ err }, 'sampling bots failed'))
        .finally(() => (this.ticking = undefined));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.rollups
      .flush()
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'writing the last minute of bot figures failed'));
  }

  /**
   * The first figures of an instance just launched, into the store at once:
   * the API shows a bot's figures from the store, and the next round may be
   * seconds away.
   */
  async sampleNow(botId: string, ref: InstanceRef): Promise<void> {
    const sample = await this.read(ref, Date.now());
    if (sample) await this.opts.store.record([[botId, sample]]);
  }

  private async read(ref: InstanceRef, now: number): Promise<Sample | null> {
    const stats = await this.opts.runtime.stats(ref).catch(() => null);
    if (!stats) return null;
    return {
      at: now,
      instance_id: ref.instanceId,
      cpu_load: this.cpu.load(ref.instanceId, stats, now),
      memory_usage_mb: round(stats.rssBytes / (1024 * 1024)),
      uptime_seconds: round((now - stats.startedAt.getTime()) / 1000),
      error_rate: null,
    };
  }

  /** One round of samples; returns them. */
  async tick(now = Date.now()): Promise<Array<[string, Sample]>> {
    const { runtime, store } = this.opts;
    const readings = await Promise.all(
      runtime.watchedInstances().map(async (ref) => {
        const sample = await this.read(ref, now);
        return sample ? ([ref.botId, sample] as [string, Sample]) : null;
      }),
    );
    const samples = readings.filter((r): r is [string, Sample] => r !== null);
    await this.addHeartbeats(samples, now);
    await this.opts
      .onSamples?.(samples)
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'health rules failed on a round of samples'));
    await store.record(samples);
    await this.rollups.add(samples);
    await this.rollups.flush(Math.floor(now / 60_000) * 60_000);
    if (now - this.lastPrune > HOUR) {
      this.lastPrune = now;
      const pruned = await pruneRollups(this.opts.db, this.opts.retentionDays);
      if (pruned) this.opts.logger.info({ pruned }, 'pruned bot figures older than BOT_METRICS_RETENTION_DAYS');
    }
    return samples;
  }

  /** Error rate and heartbeat age from each instance's own heartbeats (a row left by an earlier instance does not count). */
  private async addHeartbeats(samples: Array<[string, Sample]>, now: number): Promise<void> {
    if (samples.length === 0) return;
    const beats = await heartbeatsOf(
      this.opts.db,
      samples.map(([botId]) => botId),
    ).catch((err: unknown) => {
      this.opts.logger.warn({ err }, 'reading heartbeats for the bot samples failed; this round has no error rates');
      return null;
    });
    for (const [botId, sample] of samples) {
      const beat = beats?.get(botId);
      if (beat?.instance_id !== sample.instance_id) {
        sample.heartbeat_age_seconds = null;
        continue;
      }
      sample.error_rate = beat.error_rate;
      sample.heartbeat_age_seconds = round(Math.max(0, now - beat.last_at.getTime()) / 1000);
    }
  }
}
