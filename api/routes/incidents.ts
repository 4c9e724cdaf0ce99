import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listIncidents } from '../../registry/incidents.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { problems } from '../openapi-helpers.js';
import { access } from '../access.js';

export const incidentSchema = z
  .object({
    id: z.string(),
    bot_id: z.string(),
    instance_id: z.string().nullable(),
    kind: z.string().openapi({ example: 'process_exited', description: 'process_exited, crash_loop, launch_failed, ...' }),
    severity: z.enum(['info', 'warning', 'critical']),
    message: z.string(),
    evidence: z.record(z.string(), z.unknown()),
    outcome: z.string().nullable(),
    created_at: z.string().datetime(),
    resolved_at: z.string().datetime().nullable(),
  })
  .openapi('Incident');

export function incidentRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/incidents',
      ...access(deps, 'incidents:read'),
      tags: ['incidents'],
      summary: 'Incidents, newest first',
      request: {
        query: z.object({
          bot_id: z.string().max(63).optional(),
          kind: z.string().max(63).optional(),
          since: z.string().datetime({ offset: true }).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
      responses: {
        200: { description: 'Incidents', content: { 'application/json': { schema: z.object({ incidents: z.array(incidentSchema), total: z.number().int() }) } } },
        ...problems(422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listIncidents(deps.db, { botId: q.bot_id, kind: q.kind, limit: q.limit, since: q.since ? new Date(q.since) : undefined });
      const incidents = rows.map((r) => ({
        ...r,
        created_at: r.created_at.toISOString(),
        resolved_at: r.resolved_at ? r.resolved_at.toISOString() : null,
      }));
      return c.json({ incidents, total: incidents.length }, 200);
    },
  );
  return app;
}
