import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BOT_STATUSES } from '../lib/bot-status.js';
import { countBotsByStatus } from '../registry/bots.js';
import type { Database } from '../registry/database.js';
import type { AppEnv } from './deps.js';

/**
 * The API's Prometheus metrics, on a registry of its own (several apps may
 * live in one process, as in tests). Bots by status are read from the
 * registry at scrape time, so every API replica reports the same fleet.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'codex32_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly workflowOperations = new Counter({
    name: 'codex32_workflow_operations_total',
    help: 'Operations sent to bot workflows, by operation and result',
    labelNames: ['operation', 'result'] as const,
    registers: [this.registry],
  });
  readonly authRejections = new Counter({
    name: 'codex32_auth_rejections_total',
    help: 'Requests refused by authentication (401) or authorization (403)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly rateLimitRejections = new Counter({
    name: 'codex32_rate_limit_rejections_total',
    help: 'Requests refused by a rate limit (429)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(db: Kysely<Database>, opts: { defaultMetrics?: boolean } = {}) {
    new Gauge({
      name: 'codex32_bots',
      help: 'Registered bots by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await countBotsByStatus(db);
        for (const status of BOT_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'codex32_api_' });
  }

  middleware(): MiddlewareHandler<AppEnv> {
    const { requestDuration, authRejections, rateLimitRejections } = this;
    return async function metricsHandler(c, next) {
      const start = performance.now();
      await next();
      const status = c.res.status;
      // The route pattern, never the raw path: ids would make the label set unbounded.
      const route = c.req.path === '/metrics' ? '/metrics' : routePath(c, -1);
      requestDuration.observe({ method: c.req.method, route, status: String(status) }, (performance.now() - start) / 1000);
      if (status === 401 || status === 403) authRejections.inc({ status: String(status) });
      if (status === 429) rateLimitRejections.inc({ limit: c.res.headers.get('RateLimit-Policy') ?? 'requests' });
    };
  }
}
