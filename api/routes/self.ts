import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { botSchema } from '../../lib/bot-spec.js';
import { findBot } from '../../registry/bots.js';
import { heartbeatsOf, recordHeartbeat, type HeartbeatRow } from '../../registry/heartbeats.js';
import { listIncidents } from '../../registry/incidents.js';
import { access } from '../middleware/access.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError } from '../views/problem.js';
import { botHistory } from '../views/bot-history.js';
import { botView } from '../views/bot.js';
import { incidentSchema, incidentView } from '../views/incident.js';

const counter = z.number().int().min(0).max(1_000_000_000);

const heartbeatSchema = z
  .strictObject({
    requests: counter
      .optional()
      .openapi({ description: 'Requests (or jobs, messages) handled since the previous heartbeat' }),
    errors: counter.optional().openapi({ description: 'Of those, how many failed' }),
    gauges: z
      .record(
        z
          .string()
          .regex(
            /^[A-Za-z_][\w.]{0,63}$/,
            'a gauge name is a letter or _, then letters, digits, _ or ., at most 64 characters',
          ),
        z.number().finite(),
      )
      .refine((g) => Object.keys(g).length <= 32, 'at most 32 gauges')
      .optional()
      .openapi({
        example: { queue_depth: 12, cache_hit_ratio: 0.93 },
        description: 'Figures of the bot’s own, latest value each',
      }),
  })
  .refine((b) => b.errors === undefined || (b.requests !== undefined && b.errors <= b.requests), {
    message: 'errors needs requests, and cannot exceed it',
    path: ['errors'],
  })
  .openapi('Heartbeat');

const heartbeatStateSchema = z
  .object({
    instance_id: z.string(),
    first_at: z.string().datetime(),
    last_at: z.string().datetime(),
    beats: z.number().int(),
    requests: z.number().int(),
    errors: z.number().int(),
    error_rate: z.number().nullable(),
    gauges: z.record(z.string(), z.number()),
  })
  .openapi('HeartbeatState');

const heartbeatView = (h: HeartbeatRow): z.infer<typeof heartbeatStateSchema> => ({
  instance_id: h.instance_id,
  first_at: h.first_at.toISOString(),
  last_at: h.last_at.toISOString(),
  beats: h.beats,
  requests: Number(h.requests),
  errors: Number(h.errors),
  error_rate: h.error_rate,
  gauges: h.gauges,
});

/**
 * A bot's own view of itself, with its CODEX32_BOT_TOKEN: its config, status,
 * figures and incidents, and its heartbeats. Nothing else answers that token.
 */
export function selfRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const me = (c: { get(key: 'principal'): AppEnv['Variables']['principal'] }) => {
    const p = c.get('principal');
    if (p?.type !== 'bot')
      throw new ApiError(403, 'forbidden', 'Forbidden', 'Only a bot, with its own token, has a self.');
    return p;
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/self',
      ...access(deps, 'bot-self'),
      tags: ['self'],
      summary: 'The calling bot: its config, status, figures of the last 15 minutes, heartbeats and recent incidents',
      responses: {
        200: {
          description: 'The bot, as the platform knows it',
          content: {
            'application/json': {
              schema: z.object({
                bot: botSchema,
                instance_id: z.string(),
                heartbeat: heartbeatStateSchema.nullable(),
                history: z.object({ window: z.literal('15m'), samples: z.array(z.record(z.string(), z.unknown())) }),
                incidents: z.array(incidentSchema),
              }),
            },
          },
        },
        ...problems(404),
      },
    }),
    async (c) => {
      const { botId, instanceId } = me(c);
      const [bot, beats, history, incidents] = await Promise.all([
        botView(deps, botId, true),
        heartbeatsOf(deps.db, [botId]),
        botHistory(deps, botId, Date.now() - 15 * 60_000),
        listIncidents(deps.db, { botId, limit: 10 }),
      ]);
      if (!bot) throw new ApiError(404, 'not-found', 'Not found', `Bot ${botId} is no longer registered.`);
      const beat = beats.get(botId);
      return c.json(
        {
          bot,
          instance_id: instanceId,
          heartbeat: beat && beat.instance_id === instanceId ? heartbeatView(beat) : null,
          history: { window: '15m' as const, samples: history },
          incidents: incidents.rows.map(incidentView),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/self/heartbeat',
      ...access(deps, 'bot-self'),
      tags: ['self'],
      summary: 'I am alive: with optional counters (requests, errors) and gauges',
      description:
        'For a bot with heartbeat_interval_seconds, the first heartbeat makes it running, and three missed intervals make the platform restart it (heartbeat_lost). errors / requests is its error_rate.',
      request: { body: { ...jsonBody(heartbeatSchema), required: false } },
      responses: {
        200: {
          description: 'Recorded',
          content: {
            'application/json': {
              schema: heartbeatStateSchema.extend({ bot_id: z.string(), next_due_in_seconds: z.number().nullable() }),
            },
          },
        },
        ...problems(400, 404, 409, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const { botId, instanceId } = me(c);
      const body = c.req.header('Content-Type')?.includes('json') ? c.req.valid('json') : {};
      const bot = await findBot(deps.db, botId);
      if (!bot) throw new ApiError(404, 'not-found', 'Not found', `Bot ${botId} is no longer registered.`);
      if (bot.current_instance_id !== null && bot.current_instance_id !== instanceId) {
        throw new ApiError(
          409,
          'conflict',
          'Not the current instance',
          `This process (instance ${instanceId}) is not bot ${botId}'s current instance; it should exit.`,
        );
      }
      const row = await recordHeartbeat(deps.db, {
        botId,
        instanceId,
        at: new Date(),
        requests: body.requests ?? 0,
        errors: body.errors ?? 0,
        gauges: body.gauges ?? {},
      });
      // The first heartbeat tells the workflow the bot is up; repeated while it still says deploying, in case a signal was lost.
      if (row.beats === 1 || bot.status === 'deploying') await deps.workflows.heartbeatArrived(botId, instanceId);
      return c.json({ bot_id: botId, ...heartbeatView(row), next_due_in_seconds: bot.heartbeat_interval_seconds }, 200);
    },
  );

  return app;
}
