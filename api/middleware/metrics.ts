import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ACTIVE_STATUSES, BOT_STATUSES } from '../../lib/bot-status.js';
import type { Sample, SampleStore } from '../../monitoring/sample-store.js';
import { countBotsByStatus, restartCounts } from '../../registry/bots.js';
import { currentHeartbeats } from '../../registry/heartbeats.js';
import { incidentTally } from '../../registry/incidents.js';
import type { Database } from '../../registry/database.js';
import type { AppEnv } from '../env.js';

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

  constructor(db: Kysely<Database>, samples: SampleStore, opts: { defaultMetrics?: boolean } = {}) {
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
    // Per bot, read at scrape time: the latest sample of each running bot, its restarts from the registry,
    // and its running instance's heartbeats. prom-client collects every metric at once, so the gauges share one read per scrape.
    type Snapshot = {
      restarts: Array<[string, number]>;
      latest: Map<string, Sample>;
      heartbeats: Array<{ id: string; age: number; errorRate: number | null }>;
    };
    let inflight: Promise<Snapshot> | null = null;
    const snapshot = () =>
      (inflight ??= (async () => {
        const [rows, beats] = await Promise.all([restartCounts(db), currentHeartbeats(db)]);
        const latest = await samples.latest(rows.filter((r) => ACTIVE_STATUSES.includes(r.status)).map((r) => r.id));
        const now = Date.now();
        return {
          restarts: rows.map((r): [string, number] => [r.id, r.restart_count]),
          latest,
          heartbeats: beats
            .filter((b) => ACTIVE_STATUSES.includes(b.status))
            .map((b) => ({
              id: b.bot_id,
              age: Math.max(0, now - b.last_at.getTime()) / 1000,
              errorRate: b.error_rate,
            })),
        };
      })().finally(() => (inflight = null)));
    const perBot = (name: string, help: string, values: (s: Snapshot) => Iterable<[string, number]>) =>
      new Gauge({
        name,
        help,
        labelNames: ['bot_id'] as const,
        registers: [this.registry],
        async collect() {
          const snap = await snapshot();
          this.reset();
          for (const [botId, value] of values(snap)) this.set({ bot_id: botId }, value);
        },
      });
    const fromSamples = (pick: (s: Sample) => number) => (snap: Snapshot) =>
      [...snap.latest].map(([id, s]): [string, number] => [id, pick(s)]);
    perBot(
      'codex32_bot_restarts',
      'Restarts of the bot so far (heals and restarts on request)',
      (snap) => snap.restarts,
    );
    perBot(
      'codex32_bot_cpu_percent',
      'CPU use of the bot, percent of one core, at its latest sample',
      fromSamples((s) => s.cpu_load),
    );
    perBot(
      'codex32_bot_memory_bytes',
      'Resident memory of the bot at its latest sample',
      fromSamples((s) => Math.round(s.memory_usage_mb * 1024 * 1024)),
    );
    perBot(
      'codex32_bot_uptime_seconds',
      'Seconds since the bot process started, at its latest sample',
      fromSamples((s) => s.uptime_seconds),
    );
    perBot(
      'codex32_bot_heartbeat_age_seconds',
      'Seconds since the running instance’s latest heartbeat (bots that heartbeat)',
      (snap) => snap.heartbeats.map((h): [string, number] => [h.id, h.age]),
    );
    perBot(
      'codex32_bot_error_rate',
      'errors / requests of the running instance’s latest heartbeat that counted requests',
      (snap) =>
        snap.heartbeats.flatMap((h): Array<[string, number]> => (h.errorRate === null ? [] : [[h.id, h.errorRate]])),
    );
    new Gauge({
      name: 'codex32_incidents',
      help: 'Incidents recorded, by kind, severity and state (open, acknowledged, resolved)',
      labelNames: ['kind', 'severity', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await incidentTally(db);
        this.reset();
        for (const r of rows) this.set({ kind: r.kind, severity: r.severity, state: r.state }, r.n);
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
      requestDuration.observe(
        { method: c.req.method, route, status: String(status) },
        (performance.now() - start) / 1000,
      );
      if (status === 401 || status === 403) authRejections.inc({ status: String(status) });
      if (status === 429) rateLimitRejections.inc({ limit: c.res.headers.get('RateLimit-Policy') ?? 'requests' });
    };
  }
}
