import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  botIdSchema,
  botSchema,
  botStatusSchema,
  createBotSchema,
  desiredStateSchema,
  updateBotSchema,
} from '../../lib/bot-spec.js';
import { BOT_STATUSES } from '../../lib/bot-status.js';
import {
  countBots,
  countBotsByStatus,
  deleteBot,
  findBot,
  insertBot,
  listBots,
  updateBot,
} from '../../registry/bots.js';
import { instancesForView } from '../../registry/instances.js';
import { heartbeatsOf } from '../../registry/heartbeats.js';
import { unresolvedCounts } from '../../registry/incidents.js';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { checkBlueprint, checkRuntimeFits, specChanges, specJsonColumns } from '../bot-changes.js';
import { botScope, recordedAs } from '../auth/principal.js';
import { findActiveDeployment } from '../../registry/deployments.js';
import { addRevision, sameSpec, specOf } from '../../registry/revisions.js';
import { botView, toBotView } from '../views/bot.js';
import { botHistory, historyPointSchema, windowSchema, windowWithinRetention } from '../views/bot-history.js';
import { botKnowledge, knowledgeSchema } from '../views/knowledge.js';
import type { BotCommand } from '../bot-workflows.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, found, problemSchema } from '../views/problem.js';
import { jsonBody, problems } from '../views/openapi.js';
import { access } from '../middleware/access.js';

const idParam = z.object({ id: botIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

const commandAnswerSchema = z
  .object({
    accepted: z.literal(true),
    action: z.enum(['start', 'stop', 'restart', 'delete', 'deploy']),
    bot_id: z.string(),
    status: botStatusSchema,
    desired_state: desiredStateSchema,
    message: z.string(),
  })
  .openapi('CommandAnswer');

const statsSchema = z.object(
  Object.fromEntries(BOT_STATUSES.map((s) => [s, z.number().int()])) as Record<
    (typeof BOT_STATUSES)[number],
    z.ZodNumber
  >,
);

const listQuery = z.object({
  status: botStatusSchema.optional(),
  role: z.string().max(63).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Live log streams: how many one API process follows at once, and how long each lasts before the client reconnects. */
const MAX_LOG_STREAMS = 100;
const LOG_STREAM_MINUTES = 10;

export function botRoutes(deps: AppDeps) {
  const { db, workflows, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  const loadBot = (id: string) => found(findBot(db, id), 'Bot', id);
  const view = (id: string, c: Context<AppEnv>) =>
    found(botView(deps, id, c.get('principal')?.permissions.has('incidents:read') ?? false), 'Bot', id);
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/bots',
      ...access(deps, 'bots:create'),
      tags: ['bots'],
      summary: 'Register a bot',
      description:
        'Registers the bot and starts its lifecycle workflow (bot-<id>). The bot does not run until started.',
      request: { body: jsonBody(createBotSchema) },
      responses: {
        201: {
          description: 'Registered',
          content: { 'application/json': { schema: botSchema.extend({ message: z.string() }) } },
        },
        ...problems(400, 409, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const spec = c.req.valid('json');
      const blueprint =
        spec.blueprint !== undefined ? await checkBlueprint(config.paths.botsDir, spec.blueprint) : null;
      try {
        await db.transaction().execute(async (trx) => {
          const row = await insertBot(trx, {
            id: spec.id,
            name: spec.name,
            description: spec.description,
            role: spec.role,
            blueprint,
            image: spec.image ?? null,
            // A new bot's spec has every JSON column (defaults fill what was left out).
            ...(specJsonColumns(spec) as Required<ReturnType<typeof specJsonColumns>>),
            heartbeat_interval_seconds: spec.heartbeat_interval_seconds ?? null,
            status: 'registered',
            desired_state: 'stopped',
            status_reason: null,
            current_instance_id: null,
          });
          const first = await addRevision(trx, {
            botId: row.id,
            spec: specOf(row),
            source: 'create',
            createdBy: recordedAs(c.get('principal')!),
          });
          await updateBot(trx, row.id, { revision: first.revision });
          // Inside the transaction: if the workflow cannot be started, the registration is rolled back.
          await workflows.create(row);
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505') {
          throw new ApiError(
            409,
            'conflict',
            'Bot exists',
            `A bot with id "${spec.id}" already exists. Change it with PATCH /api/v1/bots/${spec.id}, or pick another id.`,
          );
        }
        throw err;
      }
      const body = await view(spec.id, c);
      return c.json(
        { ...body, message: `Bot ${spec.id} registered. Start it with POST /api/v1/bots/${spec.id}/start.` },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots',
      ...access(deps, 'bots:read'),
      tags: ['bots'],
      summary: 'List bots',
      request: { query: listQuery },
      responses: {
        200: {
          description: 'Bots, oldest first, with counts by status over the whole fleet',
          content: {
            'application/json': {
              schema: z.object({
                bots: z.array(botSchema),
                total: z.number().int(),
                limit: z.number().int(),
                offset: z.number().int(),
                stats: statsSchema,
              }),
            },
          },
        },
        ...problems(422),
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      // A key limited to some bots sees those bots, and counts over them only.
      const scope = botScope(c.get('principal')!);
      const q = { ...query, ...(scope ? { ids: [...scope] } : {}) };
      const [rows, counts] = await Promise.all([listBots(db, q), countBotsByStatus(db, q.ids)]);
      const instanceIds = rows.map((r) => r.current_instance_id).filter((id): id is string => id !== null);
      const withInstance = rows.filter((r) => r.current_instance_id !== null).map((r) => r.id);
      // Each depends only on the page's rows: read side by side.
      const [instances, beats, latest, open] = await Promise.all([
        instancesForView(db, instanceIds),
        // Any running bot may heartbeat (the SDK does), not only those with heartbeat_interval_seconds.
        heartbeatsOf(db, withInstance),
        deps.samples.latest(withInstance),
        c.get('principal')?.permissions.has('incidents:read')
          ? unresolvedCounts(
              db,
              rows.map((r) => r.id),
            )
          : null,
      ]);
      const byId = new Map(instances.map((i) => [i.id, i]));
      const bots = rows.map((r) =>
        toBotView(
          r,
          r.current_instance_id ? byId.get(r.current_instance_id) : undefined,
          latest.get(r.id),
          beats.get(r.id),
          open ? (open.get(r.id) ?? 0) : null,
        ),
      );
      const stats = Object.fromEntries(BOT_STATUSES.map((s) => [s, counts[s] ?? 0])) as z.infer<typeof statsSchema>;
      const total = q.role
        ? await countBots(db, q)
        : q.status
          ? (counts[q.status] ?? 0)
          : Object.values(counts).reduce((a, b) => a + b, 0);
      return c.json({ bots, total, limit: q.limit, offset: q.offset, stats }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}',
      ...access(deps, 'bots:read'),
      tags: ['bots'],
      summary: 'Read a bot: spec, status and live figures',
      request: { params: idParam },
      responses: {
        200: { description: 'The bot', content: { 'application/json': { schema: botSchema } } },
        ...problems(404, 422),
      },
    }),
    async (c) => c.json(await view(c.req.valid('param').id, c), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/v1/bots/{id}',
      ...access(deps, 'bots:update'),
      tags: ['bots'],
      summary: 'Change a bot',
      description: 'Changes apply at the next start or restart of the bot.',
      request: { params: idParam, body: jsonBody(updateBotSchema) },
      responses: {
        200: {
          description: 'Changed',
          content: { 'application/json': { schema: botSchema.extend({ message: z.string() }) } },
        },
        ...problems(400, 404, 409, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const patch = c.req.valid('json');
      const current = await loadBot(id);
      const changes = await specChanges(patch, current, config.paths.botsDir);
      await db.transaction().execute(async (trx) => {
        const updated = (await updateBot(trx, id, changes))!;
        if (sameSpec(specOf(updated), specOf(current))) return;
        // What runs changed: a new revision, unless a deployment is changing it right now.
        const active = await findActiveDeployment(trx, id);
        if (active)
          throw new ApiError(
            409,
            'conflict',
            'Deployment in progress',
            `Deployment ${active.id} of bot ${id} is ${active.phase}: what the bot runs cannot change under it. Wait for it (GET /api/v1/deployments/${active.id}?wait=60) or cancel it (POST /api/v1/deployments/${active.id}/cancel), then try again. Nothing was changed.`,
          );
        const revision = await addRevision(trx, {
          botId: id,
          spec: specOf(updated),
          source: 'patch',
          createdBy: recordedAs(c.get('principal')!),
        });
        await updateBot(trx, id, { revision: revision.revision });
      });
      if (patch.role !== undefined && patch.role !== current.role) await workflows.roleChanged(id, patch.role);
      const running = current.desired_state === 'running';
      return c.json(
        {
          ...(await view(id, c)),
          message: running
            ? `Bot ${id} changed; restart it (POST /api/v1/bots/${id}/restart) to apply.`
            : `Bot ${id} changed.`,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/bots/{id}',
      ...access(deps, 'bots:delete'),
      tags: ['bots'],
      summary: 'Delete a stopped bot',
      request: { params: idParam },
      responses: {
        200: {
          description: 'Deleted, with its instances and incidents',
          content: {
            'application/json': {
              schema: z.object({ bot_id: z.string(), deleted: z.literal(true), message: z.string() }),
            },
          },
        },
        ...problems(404, 409, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const bot = await loadBot(id);
      await workflows.finish(bot);
      await db.transaction().execute((trx) => deleteBot(trx, id));
      await deps.samples.forget(id);
      // Every console and subscriber drops the bot now; one that misses this finds it gone at its next read.
      await deps.events
        ?.publish({ kind: 'deleted', bot_id: id, at: new Date().toISOString() })
        .catch((err: unknown) => deps.logger.warn({ err, botId: id }, 'could not publish the deletion'));
      return c.json({ bot_id: id, deleted: true as const, message: `Bot ${id} deleted.` }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/history',
      ...access(deps, 'bots:read'),
      tags: ['bots'],
      summary: "A bot's figures over a time window: every sample for the recent past, per-minute rollups before that",
      request: {
        params: idParam,
        query: z.object({
          window: windowSchema.openapi({
            example: '15m',
            description: `How far back: a number and s, m, h or d (10s to ${config.BOT_METRICS_RETENTION_DAYS}d)`,
          }),
        }),
      },
      responses: {
        200: {
          description: 'Oldest first',
          content: {
            'application/json': {
              schema: z.object({
                bot_id: z.string(),
                window: z.string(),
                from: z.string().datetime(),
                to: z.string().datetime(),
                samples: z.array(historyPointSchema),
              }),
            },
          },
        },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { window } = c.req.valid('query');
      await loadBot(id);
      const ms = windowWithinRetention(window, config.BOT_METRICS_RETENTION_DAYS);
      const to = Date.now();
      const from = to - ms;
      const samples = await botHistory(deps, id, from);
      return c.json(
        { bot_id: id, window, from: new Date(from).toISOString(), to: new Date(to).toISOString(), samples },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/knowledge',
      ...access(deps, 'bots:read'),
      tags: ['bots'],
      summary:
        'Everything known about a bot: config, status, what its workflow holds, figures over the window, incidents, restarts, and a summary in words',
      description: 'The incidents part needs incidents:read; without it, it is null.',
      request: {
        params: idParam,
        query: z.object({
          window: windowSchema
            .openapi({ example: '1h', description: 'How far back the figures, incidents and restarts go (default 1h)' })
            .default('1h'),
        }),
      },
      responses: {
        200: { description: 'What the platform knows', content: { 'application/json': { schema: knowledgeSchema } } },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { window } = c.req.valid('query');
      const ms = windowWithinRetention(window, config.BOT_METRICS_RETENTION_DAYS);
      const bot = await view(id, c);
      const canReadIncidents = c.get('principal')?.permissions.has('incidents:read') ?? false;
      return c.json(await botKnowledge(deps, bot, { label: window, fromMs: Date.now() - ms }, canReadIncidents), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/logs',
      ...access(deps, 'bots:logs'),
      tags: ['bots'],
      summary: "The last lines of a bot's output (stdout and stderr)",
      request: {
        params: idParam,
        query: z.object({
          tail: z.coerce
            .number()
            .int()
            .min(1)
            .max(5000)
            .default(100)
            .openapi({ description: 'How many lines, from the end' }),
        }),
      },
      responses: {
        200: {
          description: 'Oldest first',
          content: {
            'application/json': {
              schema: z.object({
                bot_id: z.string(),
                lines: z.array(z.string()),
                count: z.number().int(),
                tail: z.number().int(),
              }),
            },
          },
        },
        ...problems(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { tail } = c.req.valid('query');
      await loadBot(id);
      const lines = await deps.readLogs(id, tail);
      return c.json({ bot_id: id, lines, count: lines.length, tail }, 200);
    },
  );

  let following = 0;
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/logs/stream',
      ...access(deps, 'bots:logs'),
      tags: ['bots'],
      summary: "A bot's output as it is written (server-sent events)",
      description: `Events: \`lines\` (data: a JSON array of lines; first the last \`tail\` lines, then each batch as it is written), \`ping\` every 15 s, and \`end\` after ${LOG_STREAM_MINUTES} minutes (reconnect with a fresh token). Read it with fetch and an Authorization header, or curl -N. At most ${MAX_LOG_STREAMS} streams per API process (503 beyond). Not on the Kubernetes runtime (409: use kubectl logs -f).`,
      request: {
        params: idParam,
        query: z.object({
          tail: z.coerce
            .number()
            .int()
            .min(0)
            .max(1000)
            .default(100)
            .openapi({ description: 'How many of the latest lines come first' }),
        }),
      },
      responses: {
        200: { description: 'The stream', content: { 'text/event-stream': { schema: z.string() } } },
        ...problems(404, 409, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { tail } = c.req.valid('query');
      await loadBot(id);
      const follow = deps.followLogs;
      if (!follow)
        throw new ApiError(
          409,
          'conflict',
          'Not followed here',
          "This API cannot follow the output of bots on the Kubernetes runtime: use kubectl logs -f on the bot's pod (label codex32.io/bot-id).",
        );
      if (following >= MAX_LOG_STREAMS)
        throw new ApiError(
          503,
          'too-many-streams',
          'Too many log streams',
          `This API process already follows ${MAX_LOG_STREAMS} logs. Close one, or read GET /api/v1/bots/${id}/logs, and try again shortly.`,
        );
      const first = tail > 0 ? await deps.readLogs(id, tail) : [];
      following++;
      c.header('X-Accel-Buffering', 'no');
      return streamSSE(c, async (stream) => {
        const done = new AbortController();
        stream.onAbort(() => done.abort());
        const ends = setTimeout(() => done.abort(), LOG_STREAM_MINUTES * 60_000);
        const ping = setInterval(
          () => void stream.writeSSE({ event: 'ping', data: '' }).catch(() => done.abort()),
          15_000,
        );
        try {
          await stream.writeSSE({ event: 'lines', data: JSON.stringify(first) });
          for await (const lines of follow(id, done.signal)) {
            await stream.writeSSE({ event: 'lines', data: JSON.stringify(lines) });
          }
          if (!stream.aborted) await stream.writeSSE({ event: 'end', data: 'reconnect to go on following' });
        } finally {
          following--;
          clearTimeout(ends);
          clearInterval(ping);
        }
      }) as never;
    },
  );

  for (const action of ['start', 'stop', 'restart'] as const satisfies readonly BotCommand[]) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/v1/bots/{id}/${action}`,
        ...access(deps, 'bots:operate'),
        tags: ['bots'],
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a bot`,
        description:
          "Asks the bot's workflow; the answer is immediate, the change follows (watch GET /api/v1/bots/{id}).",
        request: { params: idParam },
        responses: {
          202: {
            description: 'Accepted by the workflow',
            content: { 'application/json': { schema: commandAnswerSchema } },
          },
          409: {
            description: 'Rejected by the workflow, with the reason and what to do',
            content: { 'application/problem+json': { schema: problemSchema } },
          },
          ...problems(404, 422, 503),
        },
      }),
      async (c) => {
        const bot = await loadBot(c.req.valid('param').id);
        if (action !== 'stop') checkRuntimeFits(bot, config.BOT_RUNTIME);
        return c.json(await workflows.command(bot, action), 202);
      },
    );
  }

  return app;
}
