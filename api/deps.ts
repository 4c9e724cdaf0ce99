import type { Hook } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import type { AuthService } from './auth/auth-service.js';
import type { ApiKeys } from './auth/api-keys.js';
import type { ApiMetrics } from './middleware/metrics.js';
import type { Context, MiddlewareHandler } from 'hono';
import type { RateLimiter } from './middleware/rate-limit.js';
import type { BotWorkflows } from './bot-workflows.js';
import type { SampleStore } from '../monitoring/sample-store.js';
import type { FleetEvents } from '../lib/fleet-events.js';
import type { AppEnv } from './env.js';

export interface ReadinessCheck {
  name: string;
  /** false: when it fails the platform still works, with less (e.g. Redis: figures and limits per process); readiness says "degraded". */
  required?: boolean;
  check: () => Promise<Record<string, unknown>>;
}

export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  dbEngine: 'postgres' | 'pglite';
  workflows: BotWorkflows;
  /** Bots' latest and recent samples (the worker's sampler writes them). */
  samples: SampleStore;
  /** The fleet's events: what the command socket delivers, and where this API publishes deletions; absent in an app without a socket. */
  events?: FleetEvents;
  /** The last lines of a bot's output, oldest first. */
  readLogs: (botId: string, lines: number) => Promise<string[]>;
  /** A bot's output as it is written, until the signal aborts; absent where this API cannot see it (Kubernetes). */
  followLogs?: ((botId: string, signal: AbortSignal) => AsyncGenerator<string[], void, undefined>) | null;
  logger: Logger;
  readiness: ReadinessCheck[];
  auth: AuthService;
  metrics: ApiMetrics;
  /** Failed-login throttles, per account and per client address. */
  loginLimits: { account: RateLimiter; address: RateLimiter };
  /** RATE_LIMIT_REQUESTS a minute, per principal or, for anonymous calls, per address. */
  requestLimit: RateLimiter;
  /** 'off' only for the auth-overhead benchmark: routes run unchecked. Never set from configuration. */
  accessControl?: 'enforced' | 'off';
  clientAddress: (c: Context) => string | null;
  apiKeys: ApiKeys;
  /** Finds the caller (token or API key); routes add requirePermission(...) after it. */
  authenticate: MiddlewareHandler<AppEnv>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one hook serves every route's schemas and targets
  validationHook: Hook<any, AppEnv, any, any>;
}
