import { randomUUID } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  argsSchema,
  botIdSchema,
  plainName,
  botStatusSchema,
  envSchema,
  resourcesSchema,
  updateBotSchema,
} from '../../lib/bot-spec.js';
import { findBot, updateBot } from '../../registry/bots.js';
import type { BotRow, BotUpdate, DeploymentRow } from '../../registry/database.js';
import { findDeployment, insertDeployment, listDeployments } from '../../registry/deployments.js';
import { escapeForDisplay } from '../../lib/safe-text.js';
import { access } from '../middleware/access.js';
import { recordedAs } from '../auth/principal.js';
import { checkRuntimeFits, specChanges } from '../bot-changes.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError, found, problemSchema } from '../views/problem.js';

/** The spec fields a deployment may change: what a build produces, not who the bot is. */
const DEPLOYED_FIELDS = ['blueprint', 'image', 'args', 'env', 'resources'] as const;
/** Of those, the ones that are not the build: they also need bots:update. */
const RUN_SETTINGS = ['env', 'resources'] as const;

const deploySchema = z
  .strictObject({
    bot_id: botIdSchema,
    ref: plainName(200).optional().openapi({
      example: 'v1.4.2+3f9c2ab',
      description: 'What is deployed: a commit, tag or build number, kept with the record',
    }),
    blueprint: updateBotSchema.shape.blueprint.unwrap().unwrap().optional(),
    image: updateBotSchema.shape.image.unwrap().unwrap().optional(),
    args: argsSchema.optional(),
    env: envSchema.optional(),
    resources: resourcesSchema.optional(),
  })
  .refine((b) => !(b.blueprint !== undefined && b.image !== undefined), {
    message: 'give at most one of "blueprint" or "image"',
    path: ['blueprint'],
  })
  .openapi('Deploy', {
    description:
      'Applies the given spec fields to the bot, then starts it, or restarts it when it is running. Fields left out keep their values. Changing env or resources also needs bots:update (as PATCH does); blueprint, image, args and ref need only deployments:create.',
  });

const deploymentSchema = z
  .object({
    id: z.string(),
    bot_id: z.string(),
    ref: z.string().nullable(),
    changes: z.array(z.enum(DEPLOYED_FIELDS)).openapi({ description: 'The spec fields this deployment changed' }),
    action: z.enum(['start', 'restart']),
    result: z.enum(['accepted', 'rejected']),
    reason: z.string().nullable().openapi({ description: "Why the bot's workflow refused it, when rejected" }),
    requested_by: z.string(),
    created_at: z.string().datetime(),
  })
  .openapi('Deployment');

const view = (d: DeploymentRow): z.infer<typeof deploymentSchema> => ({
  id: d.id,
  bot_id: d.bot_id,
  ref: d.ref === null ? null : escapeForDisplay(d.ref),
  changes: d.changes as Array<(typeof DEPLOYED_FIELDS)[number]>,
  action: d.action,
  result: d.result,
  reason: d.reason,
  requested_by: d.requested_by,
  created_at: d.created_at.toISOString(),
});

/** The registry columns a change touches, as they were, to put back when the workflow refuses the deployment. */
function previousValues(bot: BotRow, changes: BotUpdate): BotUpdate {
  const before: Record<string, unknown> = {};
  for (const column of Object.keys(changes)) {
    const value = bot[column as keyof BotRow];
    before[column] =
      value !== null && typeof value === 'object' && !(value instanceof Date) ? JSON.stringify(value) : value;
  }
  return before as BotUpdate;
}

/**
 * Deployments: CI (a key minted with `deployments:create` only) hands over a
 * new build of a bot; the bot's workflow starts or restarts it on the new spec.
 */
export function deploymentRoutes(deps: AppDeps) {
  const { db, workflows, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/deployments',
      ...access(deps, 'deployments:create'),
      tags: ['deployments'],
      summary: 'Deploy a new build of a bot',
      description:
        'Changes the given spec fields, then starts the bot, or restarts it when it is running. When the workflow refuses (e.g. the bot is being deleted), the spec is put back and the refusal is recorded.',
      request: { body: jsonBody(deploySchema) },
      responses: {
        202: {
          description: "Accepted by the bot's workflow; follow GET /api/v1/bots/{id}",
          content: {
            'application/json': {
              schema: deploymentSchema.extend({ bot_status: botStatusSchema, message: z.string() }),
            },
          },
        },
        409: {
          description: 'Refused by the workflow or the runtime; nothing was deployed',
          content: { 'application/problem+json': { schema: problemSchema } },
        },
        ...problems(400, 404, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal')!;
      // A build is what CI may hand over; what the bot runs with (its secrets, its limits) is changed by who may PATCH it.
      const beyond = RUN_SETTINGS.filter((f) => body[f] !== undefined);
      if (beyond.length > 0 && !principal.permissions.has('bots:update')) {
        throw new ApiError(
          403,
          'forbidden',
          'Forbidden',
          `A deployment may change ${beyond.map((f) => `"${f}"`).join(' and ')} only for a caller with "bots:update" (as PATCH /api/v1/bots/${body.bot_id} needs); your ${principal.role ?? 'key'} access has "deployments:create" without it. Deploy the build fields (blueprint, image, args, ref) alone, or ask an administrator to change the rest. Nothing was deployed.`,
        );
      }
      const bot = await findBot(db, body.bot_id);
      if (!bot)
        throw new ApiError(
          404,
          'not-found',
          'Not found',
          `Bot "${body.bot_id}" does not exist. Register it first with POST /api/v1/bots, then deploy.`,
        );
      const fields = DEPLOYED_FIELDS.filter((f) => body[f] !== undefined);
      const changes = await specChanges(Object.fromEntries(fields.map((f) => [f, body[f]])), bot, config.paths.botsDir);
      checkRuntimeFits(
        { id: bot.id, image: changes.image !== undefined ? changes.image : bot.image },
        config.BOT_RUNTIME,
      );
      const action = bot.desired_state === 'running' && bot.status !== 'failed' ? 'restart' : 'start';
      const record = (result: 'accepted' | 'rejected', reason: string | null) =>
        insertDeployment(db, {
          id: randomUUID(),
          bot_id: bot.id,
          ref: body.ref ?? null,
          changes: JSON.stringify(fields),
          action,
          result,
          reason,
          requested_by: recordedAs(principal),
        });

      // The spec is saved before the command: the launch reads it from the registry.
      const updated = fields.length > 0 ? ((await updateBot(db, bot.id, changes)) ?? bot) : bot;
      try {
        const answer = await workflows.command(updated, action);
        const deployment = await record('accepted', null);
        return c.json(
          {
            ...view(deployment),
            bot_status: answer.status,
            message: `Deploying ${body.ref ?? 'the new spec'} to bot ${bot.id}: ${action} accepted. Follow it with GET /api/v1/bots/${bot.id}.`,
          },
          202,
        );
      } catch (err) {
        if (fields.length > 0) await updateBot(db, bot.id, previousValues(bot, changes));
        if (err instanceof ApiError && err.status === 409) {
          await record('rejected', err.message);
          throw new ApiError(
            409,
            'conflict',
            'Deployment refused',
            `${err.message} Nothing was deployed; the spec is unchanged.`,
          );
        }
        throw err;
      }
    },
  );

  const listQuery = z.object({
    bot_id: z.string().max(63).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/deployments',
      ...access(deps, 'deployments:read'),
      tags: ['deployments'],
      summary: 'Deployments, newest first',
      request: { query: listQuery },
      responses: {
        200: {
          description: 'Deployments',
          content: {
            'application/json': {
              schema: z.object({
                deployments: z.array(deploymentSchema),
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
      const { rows, total } = await listDeployments(db, { botId: q.bot_id, limit: q.limit, offset: q.offset });
      return c.json({ deployments: rows.map(view), total, limit: q.limit, offset: q.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/deployments/{id}',
      ...access(deps, 'deployments:read'),
      tags: ['deployments'],
      summary: 'One deployment',
      request: {
        params: z.object({
          id: z
            .string()
            .uuid()
            .openapi({ param: { name: 'id', in: 'path' } }),
        }),
      },
      responses: {
        200: { description: 'The deployment', content: { 'application/json': { schema: deploymentSchema } } },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      return c.json(view(await found(findDeployment(db, id), 'Deployment', id)), 200);
    },
  );

  return app;
}
