import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { acknowledgeIncident, findIncident, listIncidents, resolveIncident } from '../../registry/incidents.js';
import { access } from '../middleware/access.js';
import { recordedAs } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError, found } from '../views/problem.js';
import { INCIDENT_SEVERITIES, INCIDENT_STATES, incidentSchema, incidentView } from '../views/incident.js';

const idParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});
const time = z.string().datetime({ offset: true });

export function incidentRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const load = (id: string) => found(findIncident(deps.db, id), 'Incident', id);

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
          severity: z.enum(INCIDENT_SEVERITIES).optional(),
          state: z
            .enum(INCIDENT_STATES)
            .optional()
            .openapi({ description: 'open (nobody acknowledged it), acknowledged, or resolved' }),
          since: time.optional().openapi({ description: 'From this time on (ISO 8601)' }),
          until: time.optional().openapi({ description: 'Before this time (ISO 8601)' }),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: {
        200: {
          description: 'Incidents',
          content: {
            'application/json': {
              schema: z.object({
                incidents: z.array(incidentSchema),
                total: z.number().int(),
                limit: z.number().int(),
                offset: z.number().int(),
              }),
            },
          },
        },
        ...problems(422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, total } = await listIncidents(deps.db, {
        botId: q.bot_id,
        kind: q.kind,
        severity: q.severity,
        state: q.state,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
        limit: q.limit,
        offset: q.offset,
      });
      return c.json({ incidents: rows.map(incidentView), total, limit: q.limit, offset: q.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/incidents/{id}',
      ...access(deps, 'incidents:read'),
      tags: ['incidents'],
      summary: 'One incident, with its evidence',
      request: { params: idParam },
      responses: {
        200: { description: 'The incident', content: { 'application/json': { schema: incidentSchema } } },
        ...problems(404, 422),
      },
    }),
    async (c) => c.json(incidentView(await load(c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/incidents/{id}/acknowledge',
      ...access(deps, 'incidents:manage'),
      tags: ['incidents'],
      summary: 'Acknowledge: someone is looking at it',
      request: { params: idParam },
      responses: {
        200: { description: 'Acknowledged', content: { 'application/json': { schema: incidentSchema } } },
        ...problems(404, 409, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const before = await load(id);
      if (before.resolved_at)
        throw new ApiError(
          409,
          'conflict',
          'Already resolved',
          `Incident ${id} was resolved by ${before.resolved_by ?? 'someone'}; there is nothing to acknowledge.`,
        );
      if (before.acknowledged_at) {
        throw new ApiError(
          409,
          'conflict',
          'Already acknowledged',
          `Incident ${id} was acknowledged by ${before.acknowledged_by ?? 'someone'} at ${before.acknowledged_at.toISOString()}. Resolve it with POST /api/v1/incidents/${id}/resolve.`,
        );
      }
      return c.json(incidentView((await acknowledgeIncident(deps.db, id, recordedAs(c.get('principal')!)))!), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/incidents/{id}/resolve',
      ...access(deps, 'incidents:manage'),
      tags: ['incidents'],
      summary: 'Resolve, with an optional note on what was done',
      request: {
        params: idParam,
        body: {
          ...jsonBody(
            z
              .strictObject({
                resolution: z
                  .string()
                  .trim()
                  .min(1)
                  .max(2000)
                  .optional()
                  .openapi({ example: 'Raised memory_limit_mb to 512' }),
              })
              .openapi('ResolveIncident'),
          ),
          required: false,
        },
      },
      responses: {
        200: { description: 'Resolved', content: { 'application/json': { schema: incidentSchema } } },
        ...problems(400, 404, 409, 415, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.header('Content-Type')?.includes('json') ? c.req.valid('json') : {};
      const before = await load(id);
      if (before.resolved_at) {
        throw new ApiError(
          409,
          'conflict',
          'Already resolved',
          `Incident ${id} was resolved by ${before.resolved_by ?? 'someone'} at ${before.resolved_at.toISOString()}.`,
        );
      }
      return c.json(
        incidentView((await resolveIncident(deps.db, id, recordedAs(c.get('principal')!), body.resolution ?? null))!),
        200,
      );
    },
  );
  return app;
}
