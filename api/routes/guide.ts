import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { botIdSchema } from '../../lib/bot-spec.js';
import { access } from '../middleware/access.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { problems } from '../views/openapi.js';
import {
  gatherRecommendationInput,
  recommend,
  recommendationSchema,
  SEVERITY_ORDER,
} from '../views/recommendations.js';

/** The guide: what the platform would tell an operator to look at, from the fleet's state right now. */
export function guideRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/guide/recommendations',
      ...access(deps, 'bots:read'),
      tags: ['guide'],
      summary:
        'Recommendations from the fleet’s state: crash loops and their log lines, memory near its limit, bots degraded for long, hangs, bots that keep exiting, critical incidents nobody acknowledged',
      description: 'Most severe first. Log lines appear in the evidence only for callers with bots:logs.',
      request: {
        query: z.object({
          bot_id: botIdSchema.optional().openapi({ description: 'Only about this bot' }),
          severity: z
            .enum(SEVERITY_ORDER)
            .optional()
            .openapi({ description: 'This severity and the more severe ones' }),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
      responses: {
        200: {
          description: 'What to look at',
          content: {
            'application/json': {
              schema: z.object({
                generated_at: z.string().datetime(),
                recommendations: z.array(recommendationSchema),
                total: z.number().int(),
                stats: z.object({ critical: z.number().int(), warning: z.number().int(), info: z.number().int() }),
              }),
            },
          },
        },
        ...problems(422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const withLogLines = c.get('principal')?.permissions.has('bots:logs') ?? false;
      const all = recommend(await gatherRecommendationInput(deps, withLogLines, q.bot_id));
      const upTo = q.severity ? SEVERITY_ORDER.indexOf(q.severity) : SEVERITY_ORDER.length - 1;
      const kept = all.filter((r) => SEVERITY_ORDER.indexOf(r.severity) <= upTo);
      const stats = { critical: 0, warning: 0, info: 0 };
      for (const r of all) stats[r.severity]++;
      return c.json(
        { generated_at: new Date().toISOString(), recommendations: kept.slice(0, q.limit), total: kept.length, stats },
        200,
      );
    },
  );
  return app;
}
