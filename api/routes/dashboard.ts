import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { access } from '../middleware/access.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { gatherGlance } from '../views/fleet-glance.js';
import {
  assessFleet,
  fleetHealthSchema,
  guideStepSchema,
  nextSteps,
  statusCountsSchema,
  type GuideDeps,
} from '../views/guide.js';
import { problems } from '../views/openapi.js';
import { recommendationSchema } from '../views/recommendations.js';

/** GET /api/v1/dashboard: what the console's home shows, as JSON for scripts. */
export function dashboardRoutes(deps: AppDeps, guide: Pick<GuideDeps, 'mayRequest'>) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/dashboard',
      ...access(deps, 'bots:read'),
      tags: ['guide'],
      summary: "The dashboard's data: inventory, health assessment, recommendations and quick actions",
      description:
        'Quick actions are requests you may send (fitted to your permissions), most useful first. Live changes come over the command socket (subscribe to "*").',
      responses: {
        200: {
          description: 'The fleet now',
          content: {
            'application/json': {
              schema: z
                .object({
                  generated_at: z.string().datetime(),
                  inventory: z.object({
                    total: z.number().int(),
                    by_status: statusCountsSchema,
                    by_role: z.record(z.string(), z.number().int()),
                    by_runtime: z.object({ local: z.number().int(), kubernetes: z.number().int() }),
                    desired_running: z.number().int(),
                    open_incidents: z
                      .number()
                      .int()
                      .nullable()
                      .openapi({ description: 'Not acknowledged, not resolved; null without incidents:read' }),
                  }),
                  health: fleetHealthSchema,
                  recommendations: z.array(recommendationSchema),
                  quick_actions: z.array(guideStepSchema),
                })
                .openapi('Dashboard'),
            },
          },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const p = c.get('principal')!;
      const g = await gatherGlance(deps, p.permissions);
      const health = assessFleet(g.counts, g.recommendations);
      return c.json(
        {
          generated_at: new Date().toISOString(),
          inventory: {
            total: health.total,
            by_status: g.counts,
            by_role: g.byRole,
            by_runtime: { local: health.total - g.images, kubernetes: g.images },
            desired_running: g.desiredRunning,
            open_incidents: p.permissions.has('incidents:read') ? g.openIncidents : null,
          },
          health,
          recommendations: g.recommendations.slice(0, 10),
          quick_actions: nextSteps(g, (r) => guide.mayRequest(p, r), 5),
        },
        200,
      );
    },
  );
  return app;
}
