import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listBlueprints } from '../../runtime/blueprint.js';
import { access } from '../middleware/access.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { problems } from '../views/openapi.js';

const blueprintSchema = z
  .object({
    path: z.string().openapi({ example: 'analytics_bot.py', description: "What a bot's `blueprint` names" }),
    runs_with: z.enum(['python3', 'node', 'sh', 'executable']),
    size_bytes: z.number().int(),
    modified_at: z.string().datetime(),
  })
  .openapi('Blueprint');

/** GET /api/v1/blueprints: the runnable files a bot can be registered with (read-only). */
export function blueprintRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/blueprints',
      ...access(deps, 'bots:create'),
      tags: ['bots'],
      summary: 'The runnable files under the bots directory (BOTS_DIR), for registering a bot',
      description:
        'Each passed the same check as a launch (inside BOTS_DIR after symlinks, a known interpreter or executable). Hidden files, node_modules, __pycache__ and the SDK are left out; at most 1000 files, 4 levels deep. Empty on the Kubernetes runtime, where bots are images.',
      responses: {
        200: {
          description: 'Sorted by path',
          content: {
            'application/json': {
              schema: z.object({
                bots_dir: z.string(),
                blueprints: z.array(blueprintSchema),
                total: z.number().int(),
                truncated: z.boolean().openapi({ description: 'More files than were listed' }),
              }),
            },
          },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const { blueprints, truncated } =
        deps.config.BOT_RUNTIME === 'local'
          ? await listBlueprints(deps.config.paths.botsDir)
          : { blueprints: [], truncated: false };
      return c.json({ bots_dir: deps.config.BOTS_DIR, blueprints, total: blueprints.length, truncated }, 200);
    },
  );
  return app;
}
