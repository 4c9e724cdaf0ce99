import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { findBot } from '../../registry/bots.js';
import type { DeploymentRow } from '../../registry/database.js';
import { findRevision, latestHealthyBefore, listRevisions, sameSpec, specOf } from '../../registry/revisions.js';
import { access } from '../middleware/access.js';
import { checkRuntimeFits } from '../bot-changes.js';
import { createDeployment } from '../deployment-requests.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError, found, problemSchema } from '../views/problem.js';
import { deploymentSchema, deploymentView, revisionSchema, revisionView, rollbackSchema } from '../views/deployment.js';
import { botIdSchema } from '../../lib/bot-spec.js';
import { DEFAULT_HEALTH_GATE } from '../../lib/deployment-phases.js';

const idParam = z.object({ id: botIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

/** A bot's revisions (every change of what it runs), and going back to one through a deployment's gate. */
export function revisionRoutes(deps: AppDeps) {
  const { db, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/revisions',
      ...access(deps, 'bots:read'),
      tags: ['bots', 'deployments'],
      summary: "A bot's revisions, newest first",
      description:
        'Each change of what the bot runs (blueprint or artifact and entrypoint, image, args, env, resources), by PATCH, a deployment or a rollback, is a numbered revision. Env shows names only.',
      request: {
        params: idParam,
        query: z.object({
          limit: z.coerce.number().int().min(1).max(1000).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: {
        200: {
          description: 'Revisions',
          content: {
            'application/json': {
              schema: z.object({
                bot_id: z.string(),
                current: z.number().int(),
                revisions: z.array(revisionSchema),
                total: z.number().int(),
                limit: z.number().int(),
                offset: z.number().int(),
              }),
            },
          },
        },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const bot = await found(findBot(db, id), 'Bot', id);
      const { rows, total } = await listRevisions(db, id, q);
      return c.json(
        {
          bot_id: id,
          current: bot.revision,
          revisions: rows.map((r) => revisionView(r, bot.revision)),
          total,
          limit: q.limit,
          offset: q.offset,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/bots/{id}/rollback',
      ...access(deps, 'deployments:create'),
      tags: ['bots', 'deployments'],
      summary: 'Go back to an earlier revision, through the health gate',
      description:
        'Deploys the spec of `revision` (default: the latest healthy revision before the current) as a new revision (source rollback), through the same gate as any deployment; if it fails, the bot goes back again to the latest healthy one before it.',
      request: { params: idParam, body: jsonBody(rollbackSchema, { required: false }) },
      responses: {
        202: {
          description: 'The rollback deployment runs',
          content: { 'application/json': { schema: deploymentSchema.extend({ message: z.string() }) } },
        },
        409: {
          description: 'Nothing to roll back to, or another deployment is in progress',
          content: { 'application/problem+json': { schema: problemSchema } },
        },
        ...problems(400, 403, 404, 415, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json') ?? { supersede: false };
      const principal = c.get('principal')!;
      const bot = await found(findBot(db, id), 'Bot', id);
      const target = body.revision
        ? await findRevision(db, id, body.revision)
        : await latestHealthyBefore(db, id, bot.revision);
      if (!target) {
        if (body.revision)
          throw new ApiError(
            404,
            'not-found',
            'Not found',
            `Bot ${id} has no revision ${body.revision}. List them with GET /api/v1/bots/${id}/revisions.`,
          );
        throw new ApiError(
          409,
          'conflict',
          'Nothing to roll back to',
          `Bot ${id} has no healthy revision before its current one (${bot.revision}). Pick one with "revision" (GET /api/v1/bots/${id}/revisions lists them).`,
        );
      }
      if (target.revision === bot.revision || sameSpec(target.spec, specOf(bot)))
        throw new ApiError(
          409,
          'conflict',
          'Already there',
          `Bot ${id} already runs the spec of revision ${target.revision} (its current revision is ${bot.revision}). Nothing was deployed.`,
        );
      checkRuntimeFits({ id, image: target.spec.image, artifact: target.spec.artifact }, config.BOT_RUNTIME);
      const row: DeploymentRow = await createDeployment(deps, {
        bot,
        spec: target.spec,
        source: 'rollback',
        restores: target.revision,
        ref: `rollback to revision ${target.revision}`,
        changes: [],
        settings: {
          health_gate: { ...DEFAULT_HEALTH_GATE, ...body.health_gate },
          auto_rollback: true,
          start_if_stopped: true,
        },
        supersede: body.supersede,
        principal,
      });
      const view = deploymentView(row);
      return c.json(
        {
          ...view,
          message: `Rolling bot ${id} back to revision ${target.revision} (as revision ${view.revision}). Follow it with GET /api/v1/deployments/${view.id}?wait=60.`,
        },
        202,
      );
    },
  );

  return app;
}
