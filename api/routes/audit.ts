import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listAuditEntries } from '../../registry/audit.js';
import { access } from '../middleware/access.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { problems } from '../views/openapi.js';

const entrySchema = z
  .object({
    id: z.string(),
    at: z.string().datetime(),
    actor: z.string(),
    actor_type: z.string(),
    action: z.string().openapi({ example: 'POST /api/v1/bots/:id/start' }),
    target: z.string().nullable(),
    result: z.enum(['ok', 'denied', 'refused', 'error']),
    status: z.number().int().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEntry');

export function auditRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/audit',
      tags: ['audit'],
      summary: 'The audit log, newest first',
      ...access(deps, 'audit:read'),
      request: {
        query: z.object({
          actor: z.string().max(64).optional(),
          action: z
            .string()
            .max(200)
            .optional()
            .openapi({ description: 'Exact action, e.g. "DELETE /api/v1/bots/:id"' }),
          target: z.string().max(200).optional(),
          result: z.enum(['ok', 'denied', 'refused', 'error']).optional(),
          request_id: z
            .string()
            .max(255)
            .optional()
            .openapi({ description: 'The request id an error response quoted (its X-Request-Id)' }),
          since: z.string().datetime({ offset: true }).optional(),
          until: z.string().datetime({ offset: true }).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
      responses: {
        200: {
          description: 'Entries',
          content: {
            'application/json': { schema: z.object({ entries: z.array(entrySchema), total: z.number().int() }) },
          },
        },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listAuditEntries(deps.db, {
        actor: q.actor,
        action: q.action,
        target: q.target,
        result: q.result,
        requestId: q.request_id,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
        limit: q.limit,
      });
      const entries = rows.map((r) => ({
        ...r,
        at: r.at.toISOString(),
        result: r.result as 'ok' | 'denied' | 'refused' | 'error',
      }));
      return c.json({ entries, total: entries.length }, 200);
    },
  );
  return app;
}
