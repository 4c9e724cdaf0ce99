import { z } from '@hono/zod-openapi';
import { botSchema, type BotView } from '../../lib/bot-spec.js';
import { duration } from '../../lib/duration.js';
import { heartbeatsOf } from '../../registry/heartbeats.js';
import { incidentCounts, listIncidents } from '../../registry/incidents.js';
import { countInstancesSince, recentInstancesOfBot } from '../../registry/instances.js';
import { botHistory, type HistoryPoint } from './bot-history.js';
import type { AppDeps } from '../deps.js';
import { incidentSchema, incidentView } from './incident.js';

const figureSchema = z.object({
  latest: z.number().nullable(),
  avg: z.number().nullable(),
  max: z.number().nullable(),
});

export const knowledgeSchema = z
  .object({
    bot_id: z.string(),
    generated_at: z.string().datetime(),
    window: z.string(),
    summary: z.string().openapi({ description: 'The whole picture in a few plain sentences' }),
    status: botSchema.shape.status,
    status_reason: z.string().nullable(),
    restart_count: z.number().int(),
    config: botSchema.openapi({ description: 'Spec, status and live figures, as GET /api/v1/bots/{id}' }),
    workflow: z
      .object({
        conditions: z
          .array(z.object({ rule: z.string(), reason: z.string(), since: z.string() }))
          .openapi({ description: 'Degrading rules that hold now' }),
        heal_restarts_in_window: z
          .number()
          .int()
          .openapi({ description: 'Heal restarts counted against heal_policy.max_restarts now' }),
        next_restart_at: z.string().datetime().nullable(),
      })
      .nullable()
      .openapi({ description: 'What the bot’s lifecycle workflow holds; null when Temporal did not answer' }),
    performance: z.object({
      points: z.number().int(),
      cpu_load: figureSchema,
      memory_usage_mb: figureSchema.extend({ limit: z.number().nullable(), percent_of_limit: z.number().nullable() }),
      error_rate: figureSchema,
      heartbeat: z
        .object({
          last_at: z.string().datetime(),
          age_seconds: z.number(),
          beats: z.number().int(),
          requests: z.number().int(),
          errors: z.number().int(),
        })
        .nullable()
        .openapi({ description: 'The running instance’s heartbeats; null when it sent none' }),
    }),
    incidents: z
      .object({
        in_window: z.number().int(),
        unresolved: z.number().int().openapi({ description: 'All time, not only in the window' }),
        by_kind: z.record(z.string(), z.number().int()),
        recent: z.array(incidentSchema),
      })
      .nullable()
      .openapi({ description: 'null for callers without incidents:read' }),
    restarts: z.object({
      total: z.number().int(),
      instances_started_in_window: z.number().int(),
      recent_instances: z.array(
        z.object({
          instance_id: z.string(),
          pid: z.number().int().nullable(),
          started_at: z.string().datetime(),
          ended_at: z.string().datetime().nullable(),
          ran_for_seconds: z.number(),
          exit_code: z.number().int().nullable(),
          exit_signal: z.string().nullable(),
          end_reason: z.string().nullable(),
        }),
      ),
    }),
  })
  .openapi('BotKnowledge');
export type BotKnowledge = z.infer<typeof knowledgeSchema>;

const r1 = (n: number) => Math.round(n * 10) / 10;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** Latest, time-weighted average and maximum of one figure over the points (minutes count as 60 s, samples as their interval). */
function figure(
  points: HistoryPoint[],
  value: (p: HistoryPoint) => number | null,
  max: (p: HistoryPoint) => number | null,
  round: (n: number) => number,
) {
  let weight = 0;
  let sum = 0;
  let top: number | null = null;
  let latest: number | null = null;
  for (const p of points) {
    const v = value(p);
    if (v === null) continue;
    weight += p.span_seconds;
    sum += v * p.span_seconds;
    const m = max(p) ?? v;
    top = top === null ? m : Math.max(top, m);
    latest = v;
  }
  return {
    latest: latest === null ? null : round(latest),
    avg: weight ? round(sum / weight) : null,
    max: top === null ? null : round(top),
  };
}

/**
 * Everything the platform knows about one bot, for an operator (or the bot
 * itself): its config and status, what its workflow holds, its figures over
 * the window, its incidents and restarts, and a summary in words.
 */
export async function botKnowledge(
  deps: AppDeps,
  bot: BotView,
  window: { label: string; fromMs: number },
  canReadIncidents: boolean,
): Promise<BotKnowledge> {
  const id = bot.bot_id;
  const since = new Date(window.fromMs);
  const [points, beats, state, counts, inWindow, recent, started, instances] = await Promise.all([
    botHistory(deps, id, window.fromMs),
    heartbeatsOf(deps.db, [id]),
    deps.workflows.state(id).catch(() => null),
    canReadIncidents ? incidentCounts(deps.db, new Date(0), id) : Promise.resolve([]),
    canReadIncidents ? incidentCounts(deps.db, since, id) : Promise.resolve([]),
    canReadIncidents ? listIncidents(deps.db, { botId: id, limit: 10 }) : Promise.resolve(null),
    countInstancesSince(deps.db, id, since),
    recentInstancesOfBot(deps.db, id, 10),
  ]);

  const memory = figure(
    points,
    (p) => p.memory_usage_mb,
    (p) => p.memory_max_mb,
    r1,
  );
  const limit = bot.resources.memory_limit_mb ?? null;
  const beat = beats.get(id);
  const heartbeat =
    beat && beat.instance_id === bot.instance_id
      ? {
          last_at: beat.last_at.toISOString(),
          age_seconds: r1(Math.max(0, Date.now() - beat.last_at.getTime()) / 1000),
          beats: beat.beats,
          requests: Number(beat.requests),
          errors: Number(beat.errors),
        }
      : null;
  const performance = {
    points: points.length,
    cpu_load: figure(
      points,
      (p) => p.cpu_load,
      (p) => p.cpu_max,
      r1,
    ),
    memory_usage_mb: {
      ...memory,
      limit,
      percent_of_limit: limit && memory.max !== null ? r1((memory.max / limit) * 100) : null,
    },
    error_rate: figure(
      points,
      (p) => p.error_rate,
      (p) => p.error_rate_max,
      r3,
    ),
    heartbeat,
  };
  const byKind: Record<string, number> = {};
  for (const c of inWindow) byKind[c.kind] = (byKind[c.kind] ?? 0) + c.total;
  const incidents = canReadIncidents
    ? {
        in_window: inWindow.reduce((n, c) => n + c.total, 0),
        unresolved: counts.reduce((n, c) => n + c.unresolved, 0),
        by_kind: byKind,
        recent: recent!.rows.map(incidentView),
      }
    : null;
  const restarts = {
    total: bot.restart_count,
    instances_started_in_window: started,
    recent_instances: instances.map((i) => ({
      instance_id: i.id,
      pid: i.pid,
      started_at: i.started_at.toISOString(),
      ended_at: i.ended_at?.toISOString() ?? null,
      ran_for_seconds: r1(((i.ended_at ?? new Date()).getTime() - i.started_at.getTime()) / 1000),
      exit_code: i.exit_code,
      exit_signal: i.exit_signal,
      end_reason: i.end_reason,
    })),
  };
  const workflow = state
    ? {
        conditions: state.conditions ?? [],
        heal_restarts_in_window: state.healRestartsInWindow,
        next_restart_at: state.nextRestartAt,
      }
    : null;
  return {
    bot_id: id,
    generated_at: new Date().toISOString(),
    window: window.label,
    summary: summarize(bot, window.label, performance, incidents, restarts),
    status: bot.status,
    status_reason: bot.status_reason,
    restart_count: bot.restart_count,
    config: bot,
    workflow,
    performance,
    incidents,
    restarts,
  };
}

function summarize(
  bot: BotView,
  window: string,
  perf: BotKnowledge['performance'],
  incidents: BotKnowledge['incidents'],
  restarts: BotKnowledge['restarts'],
): string {
  const parts: string[] = [];
  const up =
    bot.pid !== null
      ? ` (pid ${bot.pid}${bot.uptime_seconds !== null ? `, up ${duration(bot.uptime_seconds)}` : ''})`
      : '';
  parts.push(`${bot.bot_id} is ${bot.status}${up}${bot.status_reason ? `: ${bot.status_reason}` : ''}.`);
  if (perf.points > 0) {
    const cpu = perf.cpu_load;
    const mem = perf.memory_usage_mb;
    const memText = `memory ${mem.latest ?? mem.avg} MB (max ${mem.max} MB${mem.limit ? `, ${mem.percent_of_limit}% of its ${mem.limit} MB limit` : ', no limit set'})`;
    const err =
      perf.error_rate.avg !== null
        ? `, error rate ${r1(perf.error_rate.avg * 100)}% on average (max ${r1((perf.error_rate.max ?? 0) * 100)}%)`
        : '';
    parts.push(`Over the last ${window}: CPU ${cpu.avg}% of a core on average (max ${cpu.max}%), ${memText}${err}.`);
  } else {
    parts.push(`No figures in the last ${window}: it did not run then.`);
  }
  if (perf.heartbeat) parts.push(`Last heartbeat ${perf.heartbeat.age_seconds}s ago.`);
  else if (bot.heartbeat_interval_seconds && bot.pid !== null) parts.push('It has sent no heartbeat yet.');
  if (incidents) {
    const kinds = Object.entries(incidents.by_kind).map(([k, n]) => `${n} ${k}`);
    parts.push(
      incidents.in_window
        ? `${incidents.in_window} incidents in the last ${window} (${kinds.join(', ')}); ${incidents.unresolved} unresolved in all.`
        : `No incidents in the last ${window}.`,
    );
  }
  parts.push(
    `Restarted ${restarts.total} times in all; ${restarts.instances_started_in_window} processes started in the last ${window}.`,
  );
  return parts.join(' ');
}
