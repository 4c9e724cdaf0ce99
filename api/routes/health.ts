import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { withTimeout } from '../../lib/with-timeout.js';
import type { ReadinessCheck } from '../deps.js';
import type { AppEnv } from '../env.js';

const startedAt = Date.now();

const readySchema = z
  .object({
    status: z
      .enum(['ready', 'degraded', 'not_ready'])
      .openapi({ description: 'degraded: an optional dependency (Redis) is down; the platform works on with less' }),
    checks: z.record(z.string(), z.object({ ok: z.boolean() }).catchall(z.unknown())),
  })
  .openapi('Readiness');

/** /health and /health/ready: the API's, and the worker's own (WORKER_HEALTH_PORT). */
export function healthRoutes(deps: { readiness: ReadinessCheck[] }) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      tags: ['health'],
      summary: 'Liveness: the API process answers',
      responses: {
        200: {
          description: 'Alive',
          content: {
            'application/json': { schema: z.object({ status: z.literal('ok'), uptime_seconds: z.number() }) },
          },
        },
      },
    }),
    (c) => c.json({ status: 'ok' as const, uptime_seconds: Math.round((Date.now() - startedAt) / 1000) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health/ready',
      tags: ['health'],
      summary: 'Readiness: the database and Temporal are reachable (and Redis, when configured)',
      responses: {
        200: { description: 'Ready, or degraded', content: { 'application/json': { schema: readySchema } } },
        503: {
          description: 'A dependency is down; `checks` says which',
          content: { 'application/json': { schema: readySchema } },
        },
      },
    }),
    async (c) => {
      const entries = await Promise.all(
        deps.readiness.map(async ({ name, check, required = true }) => {
          const t0 = performance.now();
          try {
            const detail = await withTimeout(check(), 3_000);
            return [name, { ok: true, latency_ms: Math.round(performance.now() - t0), ...detail }, required] as const;
          } catch (err) {
            return [
              name,
              { ok: false, error: (err as Error).message, ...(required ? {} : { required: false }) },
              required,
            ] as const;
          }
        }),
      );
      const checks = Object.fromEntries(entries.map(([name, v]) => [name, v]));
      const ok = entries.every(([, v, required]) => v.ok || !required);
      const status = !ok
        ? ('not_ready' as const)
        : entries.every(([, v]) => v.ok)
          ? ('ready' as const)
          : ('degraded' as const);
      return c.json({ status, checks }, ok ? 200 : 503);
    },
  );
  return app;
}
