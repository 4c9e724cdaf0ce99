import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { DEFAULT_HEALTH_GATE, isTerminalPhase } from '../../lib/deployment-phases.js';
import type { DeploymentRow } from '../../registry/database.js';
import { findDeployment, findByIdempotencyKey, listDeployments } from '../../registry/deployments.js';
import { specOf } from '../../registry/revisions.js';
import { access } from '../middleware/access.js';
import { botScope, reachesBot, recordedAs, type Principal } from '../auth/principal.js';
import { checkArtifact, checkBlueprint, checkRuntimeFits } from '../bot-changes.js';
import {
  botToDeploy,
  createDeployment,
  deploymentReads,
  requestHash,
  waitForDeployment,
} from '../deployment-requests.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError, problemSchema } from '../views/problem.js';
import {
  DEPLOYED_FIELDS,
  deploymentPhaseSchema,
  deploymentSchema,
  deploymentView,
  deploySchema,
  type DeploymentView,
} from '../views/deployment.js';

/** Of the deployed fields, the ones that are not the build: they also need bots:update. */
const RUN_SETTINGS = ['env', 'resources'] as const;
const MAX_WAIT_SECONDS = 60;

const idParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key is printable ASCII without spaces (e.g. the CI run id)')
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      description: 'The same key with the same body returns the same deployment (200); with another body, 422',
    }),
});

const acceptedSchema = deploymentSchema.extend({ message: z.string() });

/** A deployment the caller may see: its bot is within the caller's reach (a key limited to some bots sees theirs). */
async function visibleDeployment(deps: AppDeps, id: string, principal: Principal): Promise<DeploymentRow> {
  const row = await findDeployment(deps.db, id);
  if (!row || !reachesBot(principal, row.bot_id))
    throw new ApiError(
      404,
      'not-found',
      'Not found',
      `Deployment "${id}" does not exist. List deployments with GET /api/v1/deployments.`,
    );
  return row;
}

function inScope(principal: Principal, botId: string): void {
  if (!reachesBot(principal, botId))
    throw new ApiError(
      403,
      'forbidden',
      'Forbidden',
      `This key is limited to some bots, and ${botId} is not one of them. Nothing was deployed.`,
    );
}

function followUp(d: DeploymentView): string {
  return `Follow it with GET /api/v1/deployments/${d.id}?wait=60 (or its steps as they happen: GET /api/v1/deployments/${d.id}/events).`;
}

/**
 * Deployments: CI hands over a build of a bot; a workflow of its own
 * (deployment-<id>) applies the new revision, holds it to the health gate,
 * and rolls back to the latest healthy revision when it fails.
 */
export function deploymentRoutes(deps: AppDeps) {
  const { db, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/deployments',
      ...access(deps, 'deployments:create'),
      tags: ['deployments'],
      summary: 'Deploy a new revision of a bot, through the health gate',
      description:
        'Makes a new revision from the given fields (the rest keep their values) and starts its deployment workflow: applying → verifying → succeeded, or rolling_back → rolled_back, or failed. Answers at once (202); follow the phase with GET /api/v1/deployments/{id}?wait=N or its events.',
      request: { body: jsonBody(deploySchema), headers: idempotencyHeader },
      responses: {
        202: {
          description: 'Accepted: the deployment runs',
          content: { 'application/json': { schema: acceptedSchema } },
        },
        200: {
          description: 'The deployment this Idempotency-Key already made (the same body)',
          content: { 'application/json': { schema: acceptedSchema } },
        },
        409: {
          description: 'Another deployment of the bot is in progress (named), or the bot cannot run on this runtime',
          content: { 'application/problem+json': { schema: problemSchema } },
        },
        ...problems(400, 403, 404, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal')!;
      inScope(principal, body.bot_id);
      // A build is what CI may hand over; what the bot runs with (its secrets, its limits) is changed by who may PATCH it.
      const beyond = RUN_SETTINGS.filter((f) => body[f] !== undefined);
      if (beyond.length > 0 && !principal.permissions.has('bots:update')) {
        throw new ApiError(
          403,
          'forbidden',
          'Forbidden',
          `A deployment may change ${beyond.map((f) => `"${f}"`).join(' and ')} only for a caller with "bots:update" (as PATCH /api/v1/bots/${body.bot_id} needs); your ${principal.role ?? 'key'} access has "deployments:create" without it. Deploy the build fields (artifact, blueprint, image, args, ref) alone, or ask an administrator to change the rest. Nothing was deployed.`,
        );
      }
      const key = c.req.valid('header')['idempotency-key'];
      const hash = requestHash(body);
      const replay = async () => {
        const earlier = key ? await findByIdempotencyKey(db, recordedAs(principal), key) : undefined;
        if (!earlier) return null;
        if (earlier.request_hash !== hash)
          throw new ApiError(
            422,
            'validation',
            'Idempotency-Key reused',
            `Idempotency-Key "${key}" was used for another request (deployment ${earlier.id}, with a different body). Use a new key for a new deployment. Nothing was deployed.`,
            [{ path: 'Idempotency-Key', message: `already used for deployment ${earlier.id}` }],
          );
        const view = deploymentView(earlier);
        return c.json(
          { ...view, message: `Deployment ${earlier.id} was made by this Idempotency-Key before. ${followUp(view)}` },
          200,
        );
      };
      const earlier = await replay();
      if (earlier) return earlier;

      const bot = await botToDeploy(deps, body.bot_id);
      const spec = specOf(bot);
      const changes = DEPLOYED_FIELDS.filter((f) => body[f] !== undefined);
      if (body.blueprint !== undefined) {
        Object.assign(spec, {
          blueprint: await checkBlueprint(config.paths.botsDir, body.blueprint),
          image: null,
          artifact: null,
          entrypoint: null,
        });
      } else if (body.image !== undefined) {
        Object.assign(spec, { image: body.image, blueprint: null, artifact: null, entrypoint: null });
      } else if (body.artifact !== undefined) {
        Object.assign(spec, {
          ...(await checkArtifact(db, bot.id, body.artifact, body.entrypoint!)),
          blueprint: null,
          image: null,
        });
      }
      if (body.args !== undefined) spec.args = body.args;
      if (body.env !== undefined) spec.env = body.env;
      if (body.resources !== undefined) spec.resources = body.resources;
      checkRuntimeFits({ id: bot.id, image: spec.image, artifact: spec.artifact }, config.BOT_RUNTIME);

      let row: DeploymentRow;
      try {
        row = await createDeployment(deps, {
          bot,
          spec,
          source: 'deployment',
          ref: body.ref ?? null,
          changes,
          settings: {
            health_gate: { ...DEFAULT_HEALTH_GATE, ...body.health_gate },
            auto_rollback: body.auto_rollback,
            start_if_stopped: body.start_if_stopped,
          },
          supersede: body.supersede,
          principal,
          ...(key ? { idempotency: { key, hash } } : {}),
        });
      } catch (err) {
        // The same key raced with itself: the other request made it.
        const replayed = key ? await replay() : null;
        if (replayed) return replayed;
        throw err;
      }
      const view = deploymentView(row);
      return c.json(
        {
          ...view,
          message: `Deploying ${body.ref ?? `revision ${view.revision}`} to bot ${bot.id}. ${followUp(view)}`,
        },
        202,
      );
    },
  );

  const listQuery = z.object({
    bot_id: z.string().max(63).optional(),
    phase: deploymentPhaseSchema.optional(),
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
      const scope = botScope(c.get('principal')!);
      const { rows, total } = await listDeployments(db, {
        botId: q.bot_id,
        phase: q.phase,
        bots: scope ? [...scope] : null,
        limit: q.limit,
        offset: q.offset,
      });
      return c.json({ deployments: rows.map(deploymentView), total, limit: q.limit, offset: q.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/deployments/{id}',
      ...access(deps, 'deployments:read'),
      tags: ['deployments'],
      summary: 'One deployment: its phase and steps',
      description: `With ?wait=N (at most ${MAX_WAIT_SECONDS}), answers once the deployment has ended, or after N seconds as it is then.`,
      request: {
        params: idParam,
        query: z.object({
          wait: z.coerce
            .number()
            .int()
            .min(0)
            .max(MAX_WAIT_SECONDS)
            .optional()
            .openapi({ description: `Hold up to this many seconds (max ${MAX_WAIT_SECONDS}) for a terminal phase` }),
        }),
      },
      responses: {
        200: { description: 'The deployment', content: { 'application/json': { schema: deploymentSchema } } },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { wait } = c.req.valid('query');
      let row = await visibleDeployment(deps, id, c.get('principal')!);
      if (wait && !isTerminalPhase(row.phase)) row = (await waitForDeployment(deps, id, wait, c.req.raw.signal)) ?? row;
      return c.json(deploymentView(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/deployments/{id}/events',
      ...access(deps, 'deployments:read'),
      tags: ['deployments'],
      summary: "A deployment's steps as they happen (server-sent events)",
      description:
        'Events: `step` (data: {phase, at, detail, deployment_phase}) for each step so far and each new one, then `end` (data: the deployment) once it has ended; `ping` every 15 s.',
      request: { params: idParam },
      responses: {
        200: { description: 'text/event-stream of steps', content: { 'text/event-stream': { schema: z.string() } } },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleDeployment(deps, id, c.get('principal')!);
      return streamSSE(c, async (stream) => {
        const gone = new AbortController();
        stream.onAbort(() => gone.abort());
        let sent = 0;
        let lastPing = Date.now();
        for await (const row of deploymentReads(deps, id, gone.signal)) {
          if (gone.signal.aborted) break;
          for (const step of row.steps.slice(sent))
            await stream.writeSSE({ event: 'step', data: JSON.stringify({ ...step, deployment_phase: row.phase }) });
          sent = row.steps.length;
          if (isTerminalPhase(row.phase)) {
            await stream.writeSSE({ event: 'end', data: JSON.stringify(deploymentView(row)) });
            break;
          }
          if (Date.now() - lastPing >= 15_000) {
            await stream.writeSSE({ event: 'ping', data: '' });
            lastPing = Date.now();
          }
        }
      });
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/deployments/{id}/cancel',
      ...access(deps, 'deployments:create'),
      tags: ['deployments'],
      summary: 'Cancel a deployment: its gate stops, the bot is left as it is',
      request: { params: idParam },
      responses: {
        200: { description: 'Cancelled', content: { 'application/json': { schema: deploymentSchema } } },
        409: {
          description: 'It has already ended',
          content: { 'application/problem+json': { schema: problemSchema } },
        },
        ...problems(404, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const principal = c.get('principal')!;
      const row = await visibleDeployment(deps, id, principal);
      const ended = () =>
        new ApiError(
          409,
          'conflict',
          'Deployment has ended',
          `Deployment ${id} has already ended (${row.phase}); there is nothing to cancel. To go back to an earlier revision, POST /api/v1/bots/${row.bot_id}/rollback.`,
        );
      if (isTerminalPhase(row.phase)) throw ended();
      if (!(await deps.workflows.cancelDeployment(id, recordedAs(principal)))) {
        const now = await findDeployment(db, id);
        if (now && isTerminalPhase(now.phase)) throw ended();
      }
      const after = (await waitForDeployment(deps, id, 10, c.req.raw.signal)) ?? row;
      return c.json(deploymentView(after), 200);
    },
  );

  return app;
}
