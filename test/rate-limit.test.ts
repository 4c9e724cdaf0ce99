import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, RateLimiter, RedisStore, rateLimitHeaders } from '../api/middleware/rate-limit.js';
import { createLogger } from '../lib/logger.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' });
const unique = () => Math.random().toString(36).slice(2, 10);

describe('rate limiter stores', () => {
  it('counts a fixed window in memory and tells when it resets', async () => {
    const limiter = new RateLimiter(new MemoryStore(), 't', 3, 60_000);
    const id = unique();
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume(id));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(rateLimitHeaders(decisions[3]!)).toMatchObject({
      'RateLimit-Limit': '3',
      'RateLimit-Remaining': '0',
      'RateLimit-Policy': '3;w=60',
      'Retry-After': '60',
    });
    expect((await limiter.check(id)).allowed).toBe(false);
    await limiter.reset(id);
    expect((await limiter.check(id)).allowed).toBe(true);
  });

  it('shares counts through Redis, and counts in memory while Redis is unreachable', async () => {
    const a = new Redis(REDIS_URL);
    const b = new Redis(REDIS_URL);
    try {
      const id = unique();
      const one = new RateLimiter(new RedisStore(a, logger), 'shared', 4, 60_000);
      const two = new RateLimiter(new RedisStore(b, logger), 'shared', 4, 60_000);
      const seen = [
        await one.consume(id),
        await two.consume(id),
        await one.consume(id),
        await two.consume(id),
        await one.consume(id),
      ];
      expect(seen.map((d) => d.allowed)).toEqual([true, true, true, true, false]);
      expect(seen[4]!.resetSeconds).toBeGreaterThan(50);
      await one.reset(id);
      expect((await two.check(id)).allowed).toBe(true);
    } finally {
      a.disconnect();
      b.disconnect();
    }
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    down.on('error', () => undefined);
    try {
      const limiter = new RateLimiter(new RedisStore(down, logger), 'down', 2, 60_000);
      const id = unique();
      expect([
        (await limiter.consume(id)).allowed,
        (await limiter.consume(id)).allowed,
        (await limiter.consume(id)).allowed,
      ]).toEqual([true, true, false]);
    } finally {
      down.disconnect();
    }
  });
});

/** Login counters are per address (127.0.0.1 here) and outlive a run in Redis: start and end clean. */
async function clearLoginCounters(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys('codex32:rl:login-*');
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

describe('failed-login throttling', () => {
  let t: TestPlatform;
  let u: TestPlatform;
  beforeAll(async () => {
    await clearLoginCounters();
    const env = {
      REDIS_URL,
      LOGIN_FAILURES_PER_ACCOUNT: '5',
      LOGIN_FAILURES_PER_ADDRESS: '12',
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD: 'Sturdy-Test-Passw0rd',
    };
    t = await startTestPlatform('postgres', env);
    // A second API process on the same database and Redis.
    u = await startTestPlatform('pglite', env);
  });
  afterAll(async () => {
    await t?.close();
    await u?.close();
    await clearLoginCounters();
  });

  it('throttles a burst of wrong passwords against one account with 429 and Retry-After, across API processes', async () => {
    const name = `victim-${unique()}`;
    const { hashPassword } = await import('../api/auth/passwords.js');
    await t.platform.registry.db
      .insertInto('users')
      .values({ username: name, password_hash: await hashPassword('Right-passw0rd-here'), role: 'user' })
      .execute();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await (i % 2 ? u : t).request('POST', '/api/v1/auth/login', { username: name, password: `guess-${i}-guess` }))
          .status,
      );
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    // The 6th attempt, on either process, is throttled, even with the right password.
    for (const api of [t, u]) {
      const r = await api.request('POST', '/api/v1/auth/login', { username: name, password: 'Right-passw0rd-here' });
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(r.headers.get('ratelimit-limit')).toBe('5');
      expect(r.headers.get('ratelimit-remaining')).toBe('0');
      expect(r.body.detail).toMatch(/Too many failed logins for this account. Try again in \d+ s/);
    }
  });

  it('throttles one address that guesses across many accounts', async () => {
    let last = 0;
    for (let i = 0; i < 14; i++)
      last = (
        await t.request('POST', '/api/v1/auth/login', { username: `nobody-${unique()}`, password: 'guess-guess-guess' })
      ).status;
    expect(last).toBe(429);
    const r = await t.request('POST', '/api/v1/auth/login', {
      username: `nobody-${unique()}`,
      password: 'guess-guess-guess',
    });
    expect(r.body.detail).toMatch(/your address/);
  });
});

describe('the per-caller request limit in one process (no Redis)', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { RATE_LIMIT_REQUESTS: '6' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('counts anonymous calls per address, refused ones too, and each principal on its own', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await t.anonymous('GET', '/api/v1/bots')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
    const over = await t.anonymous('GET', '/api/v1/bots');
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(over.headers.get('ratelimit-remaining')).toBe('0');
    // Probes and scrapers are not limited.
    expect((await t.anonymous('GET', '/health/ready')).status).toBe(200);
    expect((await t.anonymous('GET', '/metrics')).status).toBe(200);

    // The administrator's key has a count of its own.
    const remaining: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await t.request('GET', '/api/v1/bots');
      expect(r.status).toBe(200);
      remaining.push(r.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['5', '4', '3', '2', '1', '0']);
    const refused = await t.request('GET', '/api/v1/bots');
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toMatch(/more than 6 requests in a minute \(RATE_LIMIT_REQUESTS\)/);
  });
});
