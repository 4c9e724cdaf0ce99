import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { botIdSchema, botSchema, botStatusSchema, createBotSchema, desiredStateSchema, updateBotSchema, type BotView } from '../../lib/bot-spec.js';
import { BOT_STATUSES } from '../../lib/bot-status.js';
import { countBots, countBotsByStatus, deleteBot, findBot, insertBot, listBots, updateBot } from '../../registry/bots.js';
import { instancesForView } from '../../registry/instances.js';
import { heartbeatsOf } from '../../registry/heartbeats.js';
import { minuteHistory } from '../../monitoring/rollups.js';
import { checkBlueprint, checkRuntimeFits, specChanges } from '../bot-changes.js';
import { toBotView } from '../bot-view.js';
import type { BotCommand } from '../bot-workflows.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { ApiError, notFound, problemSchema } from '../problem.js';
import { jsonBody, problems } from '../openapi-helpers.js';
import { access } from '../access.js';

const idParam = z.object({ id: botIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

const commandAnswerSchema = z
  .object({
    accepted: z.literal(true),
    action: z.enum(['start', 'stop', 'restart', 'delete']),
    bot_id: z.string(),
    status: botStatusSchema,
    desired_state: desiredStateSchema,
    message: z.string(),
  })
  .openapi('CommandAnswer');

const statsSchema = z.object(Object.fromEntries(BOT_STATUSES.map((s) => [s, z.number().int()])) as Record<(typeof BOT_STATUSES)[number], z.ZodNumber>);

const listQuery = z.object({
  status: botStatusSchema.optional(),
  role: z.string().max(63).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

const windowSchema = z
  .string()
  .regex(/^[1-9]\d{0,6}[smhd]$/, 'a window is a number and s, m, h or d, such as 15m or 2h')
  .refine((w) => windowMs(w) >= 10_000, 'the window is at least 10s')
  .default('15m');

function windowMs(window: string): number {
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[window.at(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(window.slice(0, -1)) * unit;
}

const historyPointSchema = z
  .object({
    at: z.string().datetime(),
    span_seconds: z.number().openapi({ description: 'What the point covers: one sample, or a minute of them' }),
    cpu_load: z.number().openapi({ description: 'Percent of one core (a minute: the average)' }),
    cpu_max: z.number(),
    memory_usage_mb: z.number().openapi({ description: 'Resident memory (a minute: the average)' }),
    memory_max_mb: z.number(),
    uptime_seconds: z.number(),
    error_rate: z.number().nullable().openapi({ description: 'From the bot’s heartbeats (a minute: the average); null when it reported no requests' }),
    error_rate_max: z.number().nullable(),
    heartbeat_age_seconds: z.number().nullable().openapi({ description: 'Seconds since its latest heartbeat at the sample; null for minutes and before a first heartbeat' }),
  })
  .openapi('HistoryPoint');

/** Rollups for the part of the window before the recent samples begin, then the samples themselves. */
export async function botHistory(deps: AppDeps, botId: string, from: number): Promise<Array<z.infer<typeof historyPointSchema>>> {
  const recent = await deps.samples.history(botId, from);
  const recentStart = recent[0]?.at ?? Number.POSITIVE_INFINITY;
  const minutes = recentStart - from > 60_000 ? await minuteHistory(deps.db, botId, new Date(Math.floor(from / 60_000) * 60_000)) : [];
  const round = (n: number) => Math.round(n * 10) / 10;
  const round3 = (n: number) => Math.round(n * 1000) / 1000;
  return [
    ...minutes
      .filter((m) => m.minute.getTime() + 60_000 <= recentStart)
      .map((m) => ({
        at: m.minute.toISOString(),
        span_seconds: 60,
        cpu_load: round(m.cpu_avg),
        cpu_max: round(m.cpu_max),
        memory_usage_mb: round(m.memory_avg_mb),
        memory_max_mb: round(m.memory_max_mb),
        uptime_seconds: m.uptime_seconds,
        error_rate: m.error_rate_avg === null ? null : round3(m.error_rate_avg),
        error_rate_max: m.error_rate_max,
        heartbeat_age_seconds: null,
      })),
    ...recent.map((s) => ({
      at: new Date(s.at).toISOString(),
      span_seconds: deps.config.BOT_SAMPLE_INTERVAL_SECONDS,
      cpu_load: s.cpu_load,
      cpu_max: s.cpu_load,
      memory_usage_mb: s.memory_usage_mb,
      memory_max_mb: s.memory_usage_mb,
      uptime_seconds: s.uptime_seconds,
      error_rate: s.error_rate,
      error_rate_max: s.error_rate,
      heartbeat_age_seconds: s.heartbeat_age_seconds ?? null,
    })),
  ];
}

/** A bot as the API shows it (spec, status, live figures), or null when there is none. */
export async function botView(deps: AppDeps, id: string): Promise<BotView | null> {
  const bot = await findBot(deps.db, id);
  if (!bot) return null;
  const [[instance], beats] = await Promise.all([
    bot.current_instance_id ? instancesForView(deps.db, [bot.current_instance_id]) : Promise.resolve([]),
    heartbeatsOf(deps.db, [id]),
  ]);
  return toBotView(bot, instance, deps.readStats, deps.cpu, beats.get(id));
}

export function botRoutes(deps: AppDeps) {
  const { db, workflows, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  const loadBot = async (id: string) => {
    const bot = await findBot(db, id);
    if (!bot) throw notFound('Bot', id);
    return bot;
  };
  const view = async (id: string) => {
    const bot = await botView(deps, id);
    if (!bot) throw notFound('Bot', id);
    return bot;
  };
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/bots',
      ...access(deps, 'bots:create'),
      tags: ['bots'],
      summary: 'Register a bot',
      description: 'Registers the bot and starts its lifecycle workflow (bot-<id>). The bot does not run until started.',
      request: { body: jsonBody(createBotSchema) },
      responses: {
        201: { description: 'Registered', content: { 'application/json': { schema: botSchema.extend({ message: z.string() }) } } },
        ...problems(400, 409, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const spec = c.req.valid('json');
      const blueprint = spec.blueprint !== undefined ? await checkBlueprint(config.paths.botsDir, spec.blueprint) : null;
      try {
        await db.transaction().execute(async (trx) => {
          const row = await insertBot(trx, {
            id: spec.id,
            name: spec.name,
            description: spec.description,
            role: spec.role,
            blueprint,
            image: spec.image ?? null,
            args: JSON.stringify(spec.args),
            env: JSON.stringify(spec.env),
            resources: JSON.stringify(spec.resources),
            heal_policy: JSON.stringify(spec.heal_policy),
            health_rules: JSON.stringify(spec.health_rules),
            heartbeat_interval_seconds: spec.heartbeat_interval_seconds ?? null,
            status: 'registered',
            desired_state: 'stopped',
            status_reason: null,
            current_instance_id: null,
          });
          // Inside the transaction: if the workflow cannot be started, the registration is rolled back.
          await workflows.create(row);
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505') {
          throw new ApiError(409, 'conflict', 'Bot exists', `A bot with id "${spec.id}" already exists. Change it with PATCH /api/v1/bots/${spec.id}, or pick another id.`);
        }
        throw err;
      }
      const body = await view(spec.id);
      return c.json({ ...body, message: `Bot ${spec.id} registered. Start it with POST /api/v1/bots/${spec.id}/start.` }, 201);
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
              schema: z.object({ bots: z.array(botSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int(), stats: statsSchema }),
            },
          },
        },
        ...problems(422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const [rows, counts] = await Promise.all([listBots(db, q), countBotsByStatus(db)]);
      const instanceIds = rows.map((r) => r.current_instance_id).filter((id): id is string => id !== null);
      const instances = await instancesForView(db, instanceIds);
      const byId = new Map(instances.map((i) => [i.id, i]));
      // Any running bot may heartbeat (the SDK does), not only those with heartbeat_interval_seconds.
      const beats = await heartbeatsOf(db, rows.filter((r) => r.current_instance_id !== null).map((r) => r.id));
      const bots = await Promise.all(
        rows.map((r) => toBotView(r, r.current_instance_id ? byId.get(r.current_instance_id) : undefined, deps.readStats, deps.cpu, beats.get(r.id))),
      );
      const stats = Object.fromEntries(BOT_STATUSES.map((s) => [s, counts[s] ?? 0])) as z.infer<typeof statsSchema>;
      const total = q.role ? await countBots(db, q) : q.status ? (counts[q.status] ?? 0) : Object.values(counts).reduce((a, b) => a + b, 0);
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
      responses: { 200: { description: 'The bot', content: { 'application/json': { schema: botSchema } } }, ...problems(404, 422) },
    }),
    async (c) => c.json(await view(c.req.valid('param').id), 200),
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
        200: { description: 'Changed', content: { 'application/json': { schema: botSchema.extend({ message: z.string() }) } } },
        ...problems(400, 404, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const patch = c.req.valid('json');
      const current = await loadBot(id);
      const changes = await specChanges(patch, current, config.paths.botsDir);
      await updateBot(db, id, changes);
      if (patch.role !== undefined && patch.role !== current.role) await workflows.roleChanged(id, patch.role);
      const running = current.desired_state === 'running';
      return c.json(
        { ...(await view(id)), message: running ? `Bot ${id} changed; restart it (POST /api/v1/bots/${id}/restart) to apply.` : `Bot ${id} changed.` },
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
          content: { 'application/json': { schema: z.object({ bot_id: z.string(), deleted: z.literal(true), message: z.string() }) } },
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
          window: windowSchema.openapi({ example: '15m', description: `How far back: a number and s, m, h or d (10s to ${config.BOT_METRICS_RETENTION_DAYS}d)` }),
        }),
      },
      responses: {
        200: {
          description: 'Oldest first',
          content: {
            'application/json': {
              schema: z.object({ bot_id: z.string(), window: z.string(), from: z.string().datetime(), to: z.string().datetime(), samples: z.array(historyPointSchema) }),
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
      const ms = windowMs(window);
      if (ms > config.BOT_METRICS_RETENTION_DAYS * 86_400_000) {
        throw new ApiError(422, 'validation', 'Window too long', `Figures are kept ${config.BOT_METRICS_RETENTION_DAYS} days (BOT_METRICS_RETENTION_DAYS); ask for ${config.BOT_METRICS_RETENTION_DAYS}d or less.`, [
          { path: 'window', message: `at most ${config.BOT_METRICS_RETENTION_DAYS}d` },
        ]);
      }
      const to = Date.now();
      const from = to - ms;
      const samples = await botHistory(deps, id, from);
      return c.json({ bot_id: id, window, from: new Date(from).toISOString(), to: new Date(to).toISOString(), samples }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/bots/{id}/logs',
      ...access(deps, 'bots:logs'),
      tags: ['bots'],
      summary: "The last lines of a bot's output (stdout and stderr)",
      request: { params: idParam, query: z.object({ tail: z.coerce.number().int().min(1).max(5000).default(100).openapi({ description: 'How many lines, from the end' }) }) },
      responses: {
        200: {
          description: 'Oldest first',
          content: { 'application/json': { schema: z.object({ bot_id: z.string(), lines: z.array(z.string()), count: z.number().int(), tail: z.number().int() }) } },
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

  for (const action of ['start', 'stop', 'restart'] as const satisfies readonly BotCommand[]) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/v1/bots/{id}/${action}`,
        ...access(deps, 'bots:operate'),
        tags: ['bots'],
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a bot`,
        description: 'Asks the bot\'s workflow; the answer is immediate, the change follows (watch GET /api/v1/bots/{id}).',
        request: { params: idParam },
        responses: {
          202: { description: 'Accepted by the workflow', content: { 'application/json': { schema: commandAnswerSchema } } },
          409: { description: 'Rejected by the workflow, with the reason and what to do', content: { 'application/problem+json': { schema: problemSchema } } },
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
