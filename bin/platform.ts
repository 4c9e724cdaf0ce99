import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client, Connection } from '@temporalio/client';
import { createLogReader, createLogFollower, createRuntime } from '../runtime/create-runtime.js';
import type { BotRuntime } from '../runtime/types.js';
import { OpenAPIHono } from '@hono/zod-openapi';
import { createApp } from '../api/app.js';
import type { ReadinessCheck } from '../api/deps.js';
import { healthRoutes } from '../api/routes/health.js';
import { WebSocketServer } from 'ws';
import { chooseProtocol } from '../api/routes/command-socket.js';
import { voiceInput } from '../conversation/voice.js';
import { ApiKeys } from '../api/auth/api-keys.js';
import { AuthService } from '../api/auth/auth-service.js';
import { bootstrapAdmin } from '../api/auth/bootstrap-admin.js';
import { resolveSecretKey } from '../api/auth/secret-key.js';
import { TokenService } from '../api/auth/tokens.js';
import { BotWorkflows } from '../api/bot-workflows.js';
import { ApiMetrics } from '../api/middleware/metrics.js';
import { createClientAddress } from '../api/middleware/client-address.js';
import { MemoryStore, RateLimiter, RedisStore, type RateLimitStore } from '../api/middleware/rate-limit.js';
import { MemorySampleStore, RedisSampleStore, type SampleStore } from '../monitoring/sample-store.js';
import { Sampler } from '../monitoring/sampler.js';
import { LocalFleetEvents, RedisFleetEvents, type FleetEvents } from '../lib/fleet-events.js';
import { HealthRules } from '../monitoring/health-rules.js';
import { createHealthNotifiers } from '../worker/runtime-events.js';
import { Redis } from 'ioredis';
import { openRegistry, type Registry } from '../registry/connect.js';
import { migrate } from '../registry/migrate.js';
import { ping } from '../registry/bots.js';
import { createBotWorker } from '../worker/create-worker.js';
import type { Config } from '../lib/config.js';
import { keepPrivate } from '../lib/private-dirs.js';
import type { Logger } from '../lib/logger.js';
import { connectTemporal, createTemporalClient, ensureSearchAttributes } from '../lib/temporal.js';

export interface PlatformOptions {
  config: Config;
  logger: Logger;
  temporalAddress: string;
  api: boolean;
  worker: boolean;
  /** Every port of the Temporal dev server this process started (npm start): bots are kept off them all. */
  devServerPorts?: number[];
  /** 'off' only for the auth-overhead benchmark (bench/api-host.ts); there is no setting for it. */
  accessControl?: 'enforced' | 'off';
}

export interface Platform {
  apiUrl: string | null;
  registry: Registry;
  client: Client;
  runtime: BotRuntime | null;
  /** The worker's /health and /health/ready, when WORKER_HEALTH_PORT is set. */
  workerHealthUrl: string | null;
  /** Status changes and incidents as they happen (every worker's, with Redis). */
  events: FleetEvents;
  /** Settles when the worker stops (or fails); never settles without a worker. */
  workerDone: Promise<void>;
  close(): Promise<void>;
}

/**
 * The composition root: opens what the API and the worker need, in order, and
 * closes it in reverse. `npm start` runs both in one process; production runs
 * them as separate processes, each with one role.
 */
export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const { config, logger } = opts;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) {
      await fn().catch((err: unknown) => logger.warn({ err }, 'error while shutting down'));
    }
  };
  try {
    keepPrivate([config.paths.dataDir, config.paths.logsDir], logger);
    const registry = await openRegistry(config, {
      onIdleError: (err) =>
        logger.warn(
          { code: (err as { code?: string }).code, error: err.message },
          'the database ended an idle connection; a new one opens at the next query',
        ),
    });
    closers.push(() => registry.close());
    await migrate(registry.db, 'latest');

    const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, logger, closers) : null;
    const samples: SampleStore = redis
      ? new RedisSampleStore(redis, logger.child({ component: 'samples' }), config.BOT_SAMPLE_HISTORY_MINUTES * 60_000)
      : new MemorySampleStore(config.BOT_SAMPLE_HISTORY_MINUTES * 60_000);

    const events: FleetEvents = redis
      ? new RedisFleetEvents(redis, logger.child({ component: 'fleet-events' }))
      : new LocalFleetEvents();
    closers.push(() => events.close());

    const connection: Connection = await connectTemporal(opts.temporalAddress, { logger });
    closers.push(() => connection.close());
    await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE, logger);
    const client = createTemporalClient(connection, config.TEMPORAL_NAMESPACE);

    // One signing key for users' tokens (API) and bots' tokens (worker): both roles must share it.
    const tokens = new TokenService({
      secret: await resolveSecretKey(config.API_SECRET_KEY, config.paths.dataDir, logger),
      algorithm: config.API_ALGORITHM,
      accessTtlSeconds: config.API_ACCESS_TOKEN_EXPIRE_MINUTES * 60,
      refreshTtlSeconds: config.API_REFRESH_TOKEN_EXPIRE_DAYS * 86400,
    });

    const readiness: ReadinessCheck[] = [
      {
        name: 'database',
        check: async () => {
          await ping(registry.db);
          return { engine: registry.engine };
        },
      },
      ...(redis
        ? [
            {
              name: 'redis',
              required: false,
              check: async () => {
                if (!(await samples.healthy()))
                  throw new Error(
                    'Redis does not answer: bot figures, request limits and failed-login counts are kept per process until it returns',
                  );
                return {};
              },
            },
          ]
        : []),
      {
        name: 'temporal',
        check: async () => {
          await connection.workflowService.getSystemInfo({});
          return { address: opts.temporalAddress, namespace: config.TEMPORAL_NAMESPACE };
        },
      },
    ];

    // The API listens first: bots launched by the worker are told its actual address.
    let apiUrl: string | null = null;
    if (opts.api) {
      const metrics = new ApiMetrics(registry.db, samples);
      // Without Redis, stamps are trusted only with the embedded database: then this is the only API process.
      const limitStore: RateLimitStore = redis
        ? new RedisStore(redis, logger.child({ component: 'rate-limit' }))
        : new MemoryStore(registry.engine === 'pglite');
      const loginWindowMs = config.LOGIN_FAILURE_WINDOW_MINUTES * 60_000;
      await bootstrapAdmin(registry.db, { username: config.ADMIN_USERNAME, password: config.ADMIN_PASSWORD, logger });
      const app = createApp({
        accessControl: opts.accessControl ?? 'enforced',
        auth: new AuthService(registry.db, tokens, limitStore),
        apiKeys: new ApiKeys(registry.db),
        config,
        db: registry.db,
        dbEngine: registry.engine,
        workflows: new BotWorkflows(client, config.TEMPORAL_TASK_QUEUE, 10_000, (operation, result) =>
          metrics.workflowOperations.inc({ operation, result }),
        ),
        metrics,
        loginLimits: {
          account: new RateLimiter(limitStore, 'login-account', config.LOGIN_FAILURES_PER_ACCOUNT, loginWindowMs),
          address: new RateLimiter(limitStore, 'login-address', config.LOGIN_FAILURES_PER_ADDRESS, loginWindowMs),
        },
        requestLimit: new RateLimiter(limitStore, 'requests', config.RATE_LIMIT_REQUESTS, 60_000),
        clientAddress: createClientAddress(config.TRUSTED_PROXIES),
        readLogs: createLogReader(config),
        followLogs: createLogFollower(config),
        samples,
        events,
        socket: { voice: voiceInput(config, logger.child({ component: 'voice' })) },
        logger: logger.child({ component: 'api' }),
        readiness,
      });
      const { server, wss } = await listen(app.fetch, config.API_HOST, config.API_PORT, config.WS_MAX_MESSAGE_BYTES);
      closers.push(() => closeServer(server, wss));
      const { port } = server.address() as AddressInfo;
      apiUrl = `http://${reachableHost(config.API_HOST)}:${port}`;
    }
    let runtime: BotRuntime | null = null;
    let workerDone: Promise<void> = new Promise(() => undefined);
    let workerHealthUrl: string | null = null;
    if (opts.worker) {
      const rt = await createRuntime(config, logger, {
        apiUrl: config.API_PUBLIC_URL ?? apiUrl ?? `http://${reachableHost(config.API_HOST)}:${config.API_PORT}`,
        temporalAddress: opts.temporalAddress,
        devServerPorts: opts.devServerPorts,
      });
      runtime = rt;
      closers.push(() => rt.close());
      let stopping = false;
      closers.push(async () => {
        stopping = true;
      });
      const rules = new HealthRules(
        registry.db,
        createHealthNotifiers(client, logger, () => stopping),
        logger.child({ component: 'health-rules' }),
      );
      const sampler = new Sampler({
        runtime: rt,
        store: samples,
        db: registry.db,
        logger: logger.child({ component: 'sampler' }),
        intervalMs: config.BOT_SAMPLE_INTERVAL_SECONDS * 1000,
        retentionDays: config.BOT_METRICS_RETENTION_DAYS,
        onSamples: (round) => rules.evaluate(round),
      });
      const w = await createBotWorker({
        config,
        temporalAddress: opts.temporalAddress,
        client,
        db: registry.db,
        runtime: rt,
        logger: logger.child({ component: 'worker' }),
        botToken: async (botId, instanceId) => (await tokens.issue('bot', botId, 0, { instance: instanceId })).token,
        events,
        launched: (botId, instance) => sampler.sampleNow(botId, instance),
      });
      closers.push(() => w.shutdown());
      workerDone = w.run();
      if (config.WORKER_HEALTH_PORT !== undefined) {
        // Probes for a worker without an API in its process (a Kubernetes Deployment of its own).
        const checks: ReadinessCheck[] = [
          ...readiness,
          {
            name: 'worker',
            check: async () => {
              const state = w.state();
              if (state !== 'RUNNING') throw new Error(`the Temporal worker is ${state}`);
              return { task_queue: config.TEMPORAL_TASK_QUEUE, runtime: rt.kind };
            },
          },
        ];
        const health = new OpenAPIHono().route('/', healthRoutes({ readiness: checks }));
        const { server, wss } = await listen(health.fetch, config.API_HOST, config.WORKER_HEALTH_PORT, 1024);
        closers.push(() => closeServer(server, wss));
        workerHealthUrl = `http://${reachableHost(config.API_HOST)}:${(server.address() as AddressInfo).port}`;
        logger.info({ url: workerHealthUrl }, 'worker health endpoint listening (/health, /health/ready)');
      }
      sampler.start();
      closers.push(() => sampler.stop());
    }

    return { apiUrl, registry, client, runtime, workerHealthUrl, events, workerDone, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * One Redis connection for the shared state (request limits, user stamps, bot
 * samples). It fails fast while Redis is down (each user then falls back to
 * this process's memory) instead of queueing commands, and reconnects by itself.
 */
async function connectRedis(url: string, logger: Logger, closers: Array<() => Promise<void>>): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', () => undefined);
  closers.push(async () => {
    redis.disconnect();
  });
  await redis
    .connect()
    .catch((err: unknown) =>
      logger.warn({ err }, 'Redis is not reachable at start; shared state is kept per process until it is'),
    );
  return redis;
}

/** An address a local client can connect to, for a server bound to `host`. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Stops accepting, lets requests in flight finish, and cuts connections still
 * open after a few seconds. WebSockets are told the server is going away (1001):
 * the HTTP server no longer tracks upgraded connections, and would wait for them.
 */
function closeServer(server: ServerType, wss: WebSocketServer): Promise<void> {
  for (const client of wss.clients) client.close(1001, 'the server is shutting down');
  const cut = setTimeout(() => {
    for (const client of wss.clients) client.terminate();
  }, 1_000);
  cut.unref();
  return new Promise((resolve) => {
    const force = setTimeout(() => (server as { closeAllConnections?: () => void }).closeAllConnections?.(), 5_000);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
  });
}

function listen(
  fetch: (req: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
  maxPayload: number,
): Promise<{ server: ServerType; wss: WebSocketServer }> {
  return new Promise((resolve, reject) => {
    // The command socket: frames over maxPayload close it (1009); the subprotocol answered is ours, or the client's own.
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      handleProtocols: (offered) => chooseProtocol(offered),
    });
    const server = serve({ fetch, hostname, port, websocket: { server: wss } }, () => resolve({ server, wss }));
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`API_PORT ${port} is taken on ${hostname}; stop what uses it or set API_PORT`)
          : err,
      ),
    );
  });
}
