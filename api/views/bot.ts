import type { BotView } from '../../lib/bot-spec.js';
import { findBot } from '../../registry/bots.js';
import { heartbeatsOf } from '../../registry/heartbeats.js';
import { instancesForView } from '../../registry/instances.js';
import { unresolvedCounts } from '../../registry/incidents.js';
import type { AppDeps } from '../deps.js';
import { escapeForDisplay } from '../../lib/safe-text.js';
import { ACTIVE_STATUSES, DEFAULT_HEAL_POLICY, DEFAULT_HEALTH_THRESHOLDS } from '../../lib/bot-status.js';
import type { BotRow, InstanceRow } from '../../registry/database.js';
import type { HeartbeatRow } from '../../registry/heartbeats.js';
import { botWorkflowId } from '../../workflows/messages.js';
import type { Sample } from '../../monitoring/sample-store.js';

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * A bot as the API shows it. Its live figures are the worker's latest sample
 * of its current instance (from the sample store: Redis, shared by every API
 * process, wherever the API runs), never read from this process's own /proc.
 */
export function toBotView(
  bot: BotRow,
  instance: Pick<InstanceRow, 'id' | 'pid' | 'started_at'> | undefined,
  sample: Sample | undefined,
  heartbeat: Pick<HeartbeatRow, 'instance_id' | 'error_rate' | 'last_at'> | undefined,
  /** Unresolved incidents; null when the caller may not read incidents. */
  openIncidents: number | null,
): BotView {
  const active = instance && ACTIVE_STATUSES.includes(bot.status);
  const figures = active && sample?.instance_id === instance.id ? sample : null;
  const now = Date.now();
  return {
    bot_id: bot.id,
    name: escapeForDisplay(bot.name),
    description: escapeForDisplay(bot.description),
    role: bot.role,
    blueprint: bot.blueprint,
    image: bot.image,
    artifact: bot.artifact,
    entrypoint: bot.entrypoint,
    args: bot.args,
    env: Object.keys(bot.env),
    resources: bot.resources,
    heal_policy: {
      ...bot.heal_policy,
      backoff_jitter: bot.heal_policy.backoff_jitter ?? DEFAULT_HEAL_POLICY.backoff_jitter!,
    },
    health_rules: { ...DEFAULT_HEALTH_THRESHOLDS, ...bot.health_rules },
    heartbeat_interval_seconds: bot.heartbeat_interval_seconds,
    status: bot.status,
    desired_state: bot.desired_state,
    status_reason: bot.status_reason,
    restart_count: bot.restart_count,
    pid: active ? instance.pid : null,
    instance_id: active ? instance.id : null,
    // The start is the registry's: uptime goes on between samples.
    uptime_seconds: figures ? round(Math.max(0, now - instance!.started_at.getTime()) / 1000) : null,
    cpu_load: figures ? figures.cpu_load : null,
    memory_usage_mb: figures ? figures.memory_usage_mb : null,
    // From the running instance's heartbeats (errors / requests); none until it reports.
    error_rate: active && heartbeat?.instance_id === instance.id ? heartbeat.error_rate : null,
    last_heartbeat_at: active && heartbeat?.instance_id === instance.id ? heartbeat.last_at.toISOString() : null,
    open_incidents: openIncidents,
    revision: bot.revision,
    workflow_id: botWorkflowId(bot.id),
    created_at: bot.created_at.toISOString(),
    last_updated: bot.updated_at.toISOString(),
  };
}

/** A bot as the API shows it (spec, status, live figures), or null when there is none. */
export async function botView(deps: AppDeps, id: string, withIncidents: boolean): Promise<BotView | null> {
  const bot = await findBot(deps.db, id);
  if (!bot) return null;
  const [[instance], beats, samples, open] = await Promise.all([
    bot.current_instance_id ? instancesForView(deps.db, [bot.current_instance_id]) : Promise.resolve([]),
    heartbeatsOf(deps.db, [id]),
    deps.samples.latest([id]),
    withIncidents ? unresolvedCounts(deps.db, [id]) : Promise.resolve(null),
  ]);
  return toBotView(bot, instance, samples.get(id), beats.get(id), open ? (open.get(id) ?? 0) : null);
}
