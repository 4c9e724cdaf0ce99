import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import { RedisHealth } from '../../lib/redis-health.js';

export interface WindowCount {
  count: number;
  /** Milliseconds until the window ends and the count starts over. */
  resetMs: number;
  /**
   * The stamp asked for with the hit, read in the same round trip: null when
   * never bumped, undefined when this store cannot vouch that every API
   * process sees the same stamps (then nothing may be cached on it).
   */
  stamp?: string | null | undefined;
}

/**
 * Where hits are counted: in this process, or in Redis so that every API
 * replica shares one count. The store also keeps stamps: counters bumped
 * when something changes (a user's role, say), so that a process can tell
 * whether what it cached is still current, in the round trip it makes anyway.
 */
export interface RateLimitStore {
  hit(key: string, windowMs: number, stampKey?: string): Promise<WindowCount>;
  peek(key: string, windowMs: number): Promise<WindowCount>;
  reset(key: string): Promise<void>;
  bumpStamp(stampKey: string): Promise<void>;
}

/**
 * Fixed windows in a Map; expired entries are swept as the map is used.
 * Stamps are vouched for only when `soleProcess` is set: with several API
 * processes and no Redis, no process sees another's bumps.
 */
export class MemoryStore implements RateLimitStore {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private readonly stamps = new Map<string, number>();
  private lastSweep = Date.now();

  constructor(private readonly soleProcess = false) {}

  async hit(key: string, windowMs: number, stampKey?: string): Promise<WindowCount> {
    const now = Date.now();
    this.sweep(now);
    let w = this.windows.get(key);
    if (!w || w.endsAt <= now) {
      w = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    const stamp = stampKey && this.soleProcess ? String(this.stamps.get(stampKey) ?? 0) : undefined;
    return { count: w.count, resetMs: w.endsAt - now, stamp };
  }

  async bumpStamp(stampKey: string): Promise<void> {
    this.stamps.set(stampKey, (this.stamps.get(stampKey) ?? 0) + 1);
  }

  async peek(key: string, windowMs: number): Promise<WindowCount> {
    const now = Date.now();
    const w = this.windows.get(key);
    return !w || w.endsAt <= now ? { count: 0, resetMs: windowMs } : { count: w.count, resetMs: w.endsAt - now };
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, w] of this.windows) if (w.endsAt <= now) this.windows.delete(key);
  }
}

// INCR and set the expiry on first hit, atomically, and read a stamp if asked: returns [count, ms left, stamp or false].
const HIT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); t = tonumber(ARGV[1]) end
local s = false
if #KEYS > 1 then s = redis.call('GET', KEYS[2]) end
return {c, t, s}`;

/**
 * Shared counts in Redis. When Redis does not answer, counting goes on in
 * this process (limits hold per replica) rather than letting everyone through
 * or refusing everyone, and a warning says so.
 */
export class RedisStore implements RateLimitStore {
  private readonly fallback = new MemoryStore();
  private readonly health: RedisHealth;

  constructor(
    private readonly redis: Redis,
    logger: Logger,
    private readonly prefix = 'codex32:rl:',
    private readonly stampPrefix = 'codex32:stamp:',
  ) {
    this.health = new RedisHealth(logger, {
      down: 'Redis is unavailable: rate limits are counted per API process until it returns',
      back: 'Redis is back: rate limits are shared again',
    });
  }

  async hit(key: string, windowMs: number, stampKey?: string): Promise<WindowCount> {
    const keys = stampKey ? [this.prefix + key, this.stampPrefix + stampKey] : [this.prefix + key];
    return this.health.attempt(
      async () => {
        const [count, ttl, stamp] = (await this.redis.eval(HIT, keys.length, ...keys, String(windowMs))) as [
          number,
          number,
          string | null,
        ];
        return { count, resetMs: ttl, stamp: stampKey ? (stamp ?? null) : undefined };
      },
      // The in-process fallback cannot vouch for stamps: it returns none.
      () => this.fallback.hit(key, windowMs),
    );
  }

  async bumpStamp(stampKey: string): Promise<void> {
    // A fresh random value, not a counter: after a FLUSHALL a counter could come back to a value a process cached before it.
    // Without Redis, other processes keep what they cached until it ages out (USER_CACHE_MS in the auth service).
    await this.health.attempt(
      () => this.redis.set(this.stampPrefix + stampKey, randomUUID()),
      () => null,
    );
  }

  async peek(key: string, windowMs: number): Promise<WindowCount> {
    return this.health.attempt(
      async () => {
        const [count, ttl] = await Promise.all([this.redis.get(this.prefix + key), this.redis.pttl(this.prefix + key)]);
        return { count: Number(count ?? 0), resetMs: ttl > 0 ? ttl : windowMs };
      },
      () => this.fallback.peek(key, windowMs),
    );
  }

  async reset(key: string): Promise<void> {
    await this.fallback.reset(key);
    await this.health.attempt(
      () => this.redis.del(this.prefix + key),
      () => 0,
    );
  }
}

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetSeconds: number;
  policy: string;
  /** See WindowCount.stamp. */
  stamp?: string | null | undefined;
}

/** `limit` hits per `windowMs` for each key, e.g. per principal or per address. */
export class RateLimiter {
  constructor(
    private readonly store: RateLimitStore,
    readonly name: string,
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts a hit; `stampKey` reads that stamp in the same round trip. */
  async consume(id: string, stampKey?: string): Promise<LimitDecision> {
    const w = await this.store.hit(`${this.name}:${id}`, this.windowMs, stampKey);
    return { ...this.decide(w), stamp: w.stamp };
  }

  /** The state without counting a hit (to refuse early, before any work). */
  async check(id: string): Promise<LimitDecision> {
    const w = await this.store.peek(`${this.name}:${id}`, this.windowMs);
    return { ...this.decide(w), allowed: w.count < this.limit };
  }

  reset(id: string): Promise<void> {
    return this.store.reset(`${this.name}:${id}`);
  }

  private decide(w: WindowCount): LimitDecision {
    return {
      allowed: w.count <= this.limit,
      limit: this.limit,
      remaining: Math.max(0, this.limit - w.count),
      resetSeconds: Math.max(1, Math.ceil(w.resetMs / 1000)),
      policy: `${this.limit};w=${Math.round(this.windowMs / 1000)}`,
    };
  }
}

/** The IETF RateLimit headers, plus Retry-After when refused. */
export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(d.limit),
    'RateLimit-Remaining': String(d.remaining),
    'RateLimit-Reset': String(d.resetSeconds),
    'RateLimit-Policy': d.policy,
    ...(d.allowed ? {} : { 'Retry-After': String(d.resetSeconds) }),
  };
}
