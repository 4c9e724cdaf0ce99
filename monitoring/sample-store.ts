import type { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';
import { RedisHealth } from '../lib/redis-health.js';

/** One reading of a running bot. */
export interface Sample {
  /** Milliseconds since the epoch. */
  at: number;
  instance_id: string;
  /** Percent of one core since the previous sample. */
  cpu_load: number;
  memory_usage_mb: number;
  uptime_seconds: number;
  /** Of the instance's latest heartbeat that counted requests; null before one. */
  error_rate: number | null;
  /** Since the instance's latest heartbeat; null before its first (absent in samples stored before it existed). */
  heartbeat_age_seconds?: number | null;
}

/**
 * The latest sample of every bot and the recent ones at full resolution
 * (`horizonMs`). In Redis when REDIS_URL is set, so that every API replica
 * sees what the worker sampled and it survives restarts; in this process
 * otherwise (then the API sees it only when it shares the process with the
 * worker, as under `npm start`). Older history is in the per-minute rollups.
 */
export interface SampleStore {
  record(samples: ReadonlyArray<[botId: string, sample: Sample]>): Promise<void>;
  latest(botIds: readonly string[]): Promise<Map<string, Sample>>;
  /** Oldest first, from `sinceMs` on. */
  history(botId: string, sinceMs: number): Promise<Sample[]>;
  forget(botId: string): Promise<void>;
  /** Whether the shared store answers (for /health/ready); null when there is none. */
  healthy(): Promise<boolean | null>;
  readonly horizonMs: number;
}

export class MemorySampleStore implements SampleStore {
  private readonly recent = new Map<string, Sample[]>();
  private readonly last = new Map<string, Sample>();

  constructor(readonly horizonMs: number) {}

  async record(samples: ReadonlyArray<[string, Sample]>): Promise<void> {
    for (const [botId, sample] of samples) {
      this.last.set(botId, sample);
      const list = this.recent.get(botId) ?? [];
      list.push(sample);
      const cutoff = sample.at - this.horizonMs;
      let drop = 0;
      while (drop < list.length && list[drop]!.at < cutoff) drop++;
      if (drop) list.splice(0, drop);
      this.recent.set(botId, list);
    }
  }

  async latest(botIds: readonly string[]): Promise<Map<string, Sample>> {
    const out = new Map<string, Sample>();
    for (const id of botIds) {
      const s = this.last.get(id);
      if (s) out.set(id, s);
    }
    return out;
  }

  async history(botId: string, sinceMs: number): Promise<Sample[]> {
    return (this.recent.get(botId) ?? []).filter((s) => s.at >= sinceMs);
  }

  async forget(botId: string): Promise<void> {
    this.recent.delete(botId);
    this.last.delete(botId);
  }

  async healthy(): Promise<boolean | null> {
    return null;
  }
}

const LATEST = 'codex32:samples:latest';
const recentKey = (botId: string) => `codex32:samples:recent:${botId}`;

/**
 * Redis: a hash of the latest sample per bot, and a sorted set per bot
 * (scored by time) trimmed to the horizon. While Redis is down, samples go
 * to an in-process store and reads come from it (degraded: this process
 * only); when Redis answers again, it is used again and refills by itself.
 */
export class RedisSampleStore implements SampleStore {
  private readonly fallback: MemorySampleStore;
  private readonly health: RedisHealth;

  constructor(
    private readonly redis: Redis,
    logger: Logger,
    readonly horizonMs: number,
  ) {
    this.fallback = new MemorySampleStore(horizonMs);
    this.health = new RedisHealth(logger, {
      down: 'Redis is unavailable: bot samples are kept in this process until it returns',
      back: 'Redis is back: bot samples are shared again',
    });
  }

  async record(samples: ReadonlyArray<[string, Sample]>): Promise<void> {
    if (samples.length === 0) return;
    await this.fallback.record(samples);
    const multi = this.redis.multi();
    const latest: Record<string, string> = {};
    for (const [botId, sample] of samples) {
      const json = JSON.stringify(sample);
      latest[botId] = json;
      multi.zadd(recentKey(botId), sample.at, json);
      multi.zremrangebyscore(recentKey(botId), '-inf', sample.at - this.horizonMs);
      // A deleted bot's key goes away by itself.
      multi.pexpire(recentKey(botId), this.horizonMs);
    }
    multi.hset(LATEST, latest);
    await this.health.attempt(
      () => multi.exec(),
      () => null,
    );
  }

  async latest(botIds: readonly string[]): Promise<Map<string, Sample>> {
    if (botIds.length === 0) return new Map();
    return this.health.attempt(
      async () => {
        const values = await this.redis.hmget(LATEST, ...botIds);
        const out = new Map<string, Sample>();
        values.forEach((v, i) => {
          if (v) out.set(botIds[i]!, JSON.parse(v) as Sample);
        });
        return out;
      },
      () => this.fallback.latest(botIds),
    );
  }

  async history(botId: string, sinceMs: number): Promise<Sample[]> {
    return this.health.attempt(
      async () =>
        (await this.redis.zrangebyscore(recentKey(botId), sinceMs, '+inf')).map((v) => JSON.parse(v) as Sample),
      () => this.fallback.history(botId, sinceMs),
    );
  }

  async forget(botId: string): Promise<void> {
    await this.fallback.forget(botId);
    await this.health.attempt(
      () => this.redis.multi().hdel(LATEST, botId).del(recentKey(botId)).exec(),
      () => null,
    );
  }

  async healthy(): Promise<boolean> {
    return this.health.attempt(
      async () => (await this.redis.ping(), true),
      () => false,
    );
  }
}
