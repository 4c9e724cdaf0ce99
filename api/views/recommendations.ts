import { z } from '@hono/zod-openapi';
import { ACTIVE_STATUSES } from '../../lib/bot-status.js';
import type { Sample } from '../../monitoring/sample-store.js';
import type { BotRow, IncidentRow } from '../../registry/database.js';
import { allBots } from '../../registry/bots.js';
import { incidentCounts, latestIncidents, unresolvedIncidents } from '../../registry/incidents.js';
import type { AppDeps } from '../deps.js';
import { escapeForDisplay } from '../../lib/safe-text.js';

export const SEVERITY_ORDER = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITY_ORDER)[number];

const actionSchema = z.object({
  method: z.enum(['GET', 'POST', 'PATCH']),
  path: z.string(),
  body: z.record(z.string(), z.unknown()).optional(),
  description: z.string(),
});

export const recommendationSchema = z
  .object({
    id: z.string().openapi({
      description: 'Stable while the situation lasts: the rule and the bot',
      example: 'memory_near_limit:analytics-v1',
    }),
    rule: z.enum([
      'crash_loop',
      'launch_failed',
      'memory_near_limit',
      'memory_restarts',
      'degraded_for_long',
      'heartbeat_trouble',
      'keeps_exiting',
      'unacknowledged_critical',
      'no_memory_limit',
    ]),
    severity: z.enum(SEVERITY_ORDER),
    bot_id: z.string(),
    title: z.string(),
    detail: z.string().openapi({ description: 'What the platform saw and what to do about it' }),
    evidence: z.record(z.string(), z.unknown()),
    actions: z.array(actionSchema).openapi({ description: 'Requests that act on it, in order' }),
  })
  .openapi('Recommendation');
export type Recommendation = z.infer<typeof recommendationSchema>;

/** Memory at or over this share of its limit is near it. */
const MEMORY_NEAR = 0.8;
/** Degraded this long is long. */
const DEGRADED_LONG_MS = 10 * 60_000;
/** Critical incidents nobody acknowledged for this long. */
const UNACKNOWLEDGED_MS = 15 * 60_000;
const HOUR = 3_600_000;

/** A memory limit with room: half again what it needs, in 16 MB steps. */
const roomyLimit = (mb: number) => Math.max(64, Math.ceil((mb * 1.5) / 16) * 16);
const minutes = (ms: number) => Math.round(ms / 60_000);

export interface RecommendationInput {
  bots: BotRow[];
  latest: Map<string, Sample>;
  /** Incidents of the last hour per bot and kind. */
  lastHour: Array<{ bot_id: string; kind: string; total: number; unresolved: number; last_at: Date }>;
  /** Latest incident of each failed bot. */
  failures: Map<string, IncidentRow>;
  /** Unresolved incidents: degrading conditions and critical ones. */
  unresolved: IncidentRow[];
  /** Whether the caller may see the bots' log lines (bots:logs). */
  withLogLines: boolean;
  now: number;
}

/**
 * Rules over the fleet's state, each a recommendation for an operator:
 * what the platform saw (with evidence) and the requests that act on it.
 * Pure: the route gathers the state, so the rules are tested on their own too.
 */
export function recommend(input: RecommendationInput): Recommendation[] {
  const out: Recommendation[] = [];
  const byBot = new Map(input.bots.map((b) => [b.id, b]));
  const count = (botId: string, kind: string) =>
    input.lastHour.find((c) => c.bot_id === botId && c.kind === kind)?.total ?? 0;
  const logLines = (i: IncidentRow | undefined) =>
    input.withLogLines && Array.isArray(i?.evidence.last_log_lines)
      ? { last_log_lines: i.evidence.last_log_lines }
      : {};
  const logs = (id: string): Recommendation['actions'][number] => ({
    method: 'GET',
    path: `/api/v1/bots/${id}/logs?tail=100`,
    description: 'Read its latest output',
  });
  const start = (id: string): Recommendation['actions'][number] => ({
    method: 'POST',
    path: `/api/v1/bots/${id}/start`,
    description: 'Start it again once the cause is fixed',
  });
  const restart = (id: string): Recommendation['actions'][number] => ({
    method: 'POST',
    path: `/api/v1/bots/${id}/restart`,
    description: 'Restart it so the change takes effect',
  });

  for (const bot of input.bots) {
    const id = bot.id;
    if (bot.status === 'failed') {
      const last = input.failures.get(id);
      if (last?.kind === 'crash_loop') {
        out.push({
          id: `crash_loop:${id}`,
          rule: 'crash_loop',
          severity: 'critical',
          bot_id: id,
          title: `${id} is down after a crash loop`,
          detail: `${escapeForDisplay(last.message)}. The platform stopped restarting it. Look at the last lines it wrote${input.withLogLines ? ' (below)' : ''}, fix the cause, then start it again.`,
          evidence: {
            incident_id: last.id,
            last_cause: last.evidence.last_cause ?? null,
            exit_code: last.evidence.exit_code ?? null,
            signal: last.evidence.signal ?? null,
            ...logLines(last),
          },
          actions: [logs(id), start(id)],
        });
      } else if (last?.kind === 'launch_failed') {
        out.push({
          id: `launch_failed:${id}`,
          rule: 'launch_failed',
          severity: 'critical',
          bot_id: id,
          title: `${id} could not be launched`,
          detail: `${escapeForDisplay(last.message)}. Fix its spec (blueprint, image, args), then start it again.`,
          evidence: { incident_id: last.id, failure: last.evidence.failure ?? null },
          actions: [
            {
              method: 'PATCH',
              path: `/api/v1/bots/${id}`,
              body: { blueprint: bot.blueprint },
              description: 'Point it at a runnable file under the bots directory',
            },
            start(id),
          ],
        });
      }
      continue;
    }

    const sample = ACTIVE_STATUSES.includes(bot.status) ? input.latest.get(id) : undefined;
    const limit = bot.resources.memory_limit_mb;
    const memoryRestarts = count(id, 'memory_limit');
    if (limit && memoryRestarts >= 2) {
      const suggested = roomyLimit(limit);
      out.push({
        id: `memory_restarts:${id}`,
        rule: 'memory_restarts',
        severity: 'warning',
        bot_id: id,
        title: `${id} was restarted ${memoryRestarts} times in the last hour for memory`,
        detail: `It keeps growing past its memory_limit_mb of ${limit}. If it needs more, raise the limit (to ${suggested} MB, say); if it should not, it leaks: look at what it holds.`,
        evidence: { memory_limit_incidents_last_hour: memoryRestarts, memory_limit_mb: limit },
        actions: [
          {
            method: 'PATCH',
            path: `/api/v1/bots/${id}`,
            body: { resources: { ...bot.resources, memory_limit_mb: suggested } },
            description: `Raise the limit to ${suggested} MB`,
          },
          restart(id),
        ],
      });
    } else if (limit && sample && sample.memory_usage_mb >= limit * MEMORY_NEAR) {
      const suggested = roomyLimit(Math.max(sample.memory_usage_mb, limit));
      out.push({
        id: `memory_near_limit:${id}`,
        rule: 'memory_near_limit',
        severity: 'warning',
        bot_id: id,
        title: `${id} uses ${Math.round((sample.memory_usage_mb / limit) * 100)}% of its memory limit`,
        detail: `${sample.memory_usage_mb} MB of its memory_limit_mb of ${limit}: past the limit, the platform restarts it. Raise the limit (to ${suggested} MB, say) if this is its normal size.`,
        evidence: {
          memory_usage_mb: sample.memory_usage_mb,
          memory_limit_mb: limit,
          sampled_at: new Date(sample.at).toISOString(),
        },
        actions: [
          {
            method: 'PATCH',
            path: `/api/v1/bots/${id}`,
            body: { resources: { ...bot.resources, memory_limit_mb: suggested } },
            description: `Raise the limit to ${suggested} MB`,
          },
          restart(id),
        ],
      });
    } else if (!limit && sample && bot.status === 'running') {
      const suggested = roomyLimit(sample.memory_usage_mb * 1.5);
      out.push({
        id: `no_memory_limit:${id}`,
        rule: 'no_memory_limit',
        severity: 'info',
        bot_id: id,
        title: `${id} has no memory limit`,
        detail: `It uses ${sample.memory_usage_mb} MB now. With resources.memory_limit_mb set, a leak is restarted (with an incident) before it starves the machine.`,
        evidence: { memory_usage_mb: sample.memory_usage_mb },
        actions: [
          {
            method: 'PATCH',
            path: `/api/v1/bots/${id}`,
            body: { resources: { ...bot.resources, memory_limit_mb: suggested } },
            description: `Set a limit of ${suggested} MB`,
          },
        ],
      });
    }

    if (bot.status === 'degraded') {
      const held = input.unresolved.filter(
        (i) =>
          i.bot_id === id &&
          i.instance_id === bot.current_instance_id &&
          (i.kind === 'error_rate' || i.kind === 'cpu_pegged'),
      );
      const since = held.length ? Math.min(...held.map((i) => i.created_at.getTime())) : bot.updated_at.getTime();
      if (input.now - since >= DEGRADED_LONG_MS) {
        out.push({
          id: `degraded_for_long:${id}`,
          rule: 'degraded_for_long',
          severity: 'warning',
          bot_id: id,
          title: `${id} has been degraded for ${minutes(input.now - since)} minutes`,
          detail: `${bot.status_reason ?? 'A health rule holds'}. It did not recover by itself: read its knowledge and logs, and restart it if a fresh process would help.`,
          evidence: {
            degraded_since: new Date(since).toISOString(),
            reason: bot.status_reason,
            incident_ids: held.map((i) => i.id),
          },
          actions: [
            { method: 'GET', path: `/api/v1/bots/${id}/knowledge`, description: 'Its figures, incidents and restarts' },
            logs(id),
            { ...restart(id), description: 'Restart it' },
          ],
        });
      }
    }

    const lost = count(id, 'heartbeat_lost');
    if (lost >= 2) {
      out.push({
        id: `heartbeat_trouble:${id}`,
        rule: 'heartbeat_trouble',
        severity: 'warning',
        bot_id: id,
        title: `${id} lost its heartbeat ${lost} times in the last hour`,
        detail: `It hangs, or its heartbeats do not reach the API in time (every ${bot.heartbeat_interval_seconds ?? '?'}s, three missed intervals restart it). Look at its last lines; if it is busy for long stretches, beat from a timer or raise heartbeat_interval_seconds.`,
        evidence: { heartbeat_lost_last_hour: lost, heartbeat_interval_seconds: bot.heartbeat_interval_seconds },
        actions: [
          logs(id),
          {
            method: 'PATCH',
            path: `/api/v1/bots/${id}`,
            body: { heartbeat_interval_seconds: Math.min(3600, (bot.heartbeat_interval_seconds ?? 10) * 2) },
            description: 'Give it twice the time between heartbeats',
          },
        ],
      });
    }

    const exits = count(id, 'process_exited');
    if (exits >= 3) {
      out.push({
        id: `keeps_exiting:${id}`,
        rule: 'keeps_exiting',
        severity: 'warning',
        bot_id: id,
        title: `${id} exited ${exits} times in the last hour`,
        detail: `The platform restarted it each time (${bot.restart_count} restarts in all), but something keeps ending it; within heal_policy.max_restarts of ${bot.heal_policy.max_restarts} per ${bot.heal_policy.window_seconds}s it will be given up on. Look at the last lines it wrote before each exit (its process_exited incidents).`,
        evidence: { process_exited_last_hour: exits, restart_count: bot.restart_count },
        actions: [
          {
            method: 'GET',
            path: `/api/v1/incidents?bot_id=${id}&kind=process_exited`,
            description: 'Each exit, with its code and last log lines',
          },
          logs(id),
        ],
      });
    }
  }

  for (const i of input.unresolved) {
    if (
      i.severity !== 'critical' ||
      i.acknowledged_at ||
      input.now - i.created_at.getTime() < UNACKNOWLEDGED_MS ||
      !byBot.has(i.bot_id)
    )
      continue;
    out.push({
      id: `unacknowledged_critical:${i.id}`,
      rule: 'unacknowledged_critical',
      severity: 'warning',
      bot_id: i.bot_id,
      title: `A critical ${i.kind} incident of ${i.bot_id} has waited ${minutes(input.now - i.created_at.getTime())} minutes for someone`,
      detail: `${escapeForDisplay(i.message)}. Acknowledge it so others know it is being looked at, and resolve it with what was done.`,
      evidence: { incident_id: i.id, created_at: i.created_at.toISOString() },
      actions: [
        { method: 'POST', path: `/api/v1/incidents/${i.id}/acknowledge`, description: 'Say you are on it' },
        {
          method: 'POST',
          path: `/api/v1/incidents/${i.id}/resolve`,
          body: { resolution: 'what was done' },
          description: 'Close it with what was done',
        },
      ],
    });
  }

  const rank = (s: Severity) => SEVERITY_ORDER.indexOf(s);
  return out.sort(
    (a, b) => rank(a.severity) - rank(b.severity) || a.bot_id.localeCompare(b.bot_id) || a.rule.localeCompare(b.rule),
  );
}

/** The fleet's state as the rules need it, read in a few queries. */
export async function gatherRecommendationInput(
  deps: AppDeps,
  withLogLines: boolean,
  botId?: string,
): Promise<RecommendationInput> {
  const now = Date.now();
  const bots = await allBots(deps.db, botId);
  const active = bots.filter((b) => ACTIVE_STATUSES.includes(b.status)).map((b) => b.id);
  const failed = bots.filter((b) => b.status === 'failed').map((b) => b.id);
  const [latest, lastHour, failures, unresolved] = await Promise.all([
    deps.samples.latest(active),
    incidentCounts(deps.db, new Date(now - HOUR), botId),
    latestIncidents(deps.db, failed),
    unresolvedIncidents(deps.db, 5_000, botId),
  ]);
  return { bots, latest, lastHour, failures, unresolved, withLogLines, now };
}
