import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { BotStatus, DesiredState, HealPolicy } from '../lib/bot-status.js';
import { OrderedPublisher, type FleetEvent, type FleetEvents } from '../lib/fleet-events.js';
import type { Logger } from '../lib/logger.js';
import { findBot, recordBotStatus } from '../registry/bots.js';
import type { Database } from '../registry/database.js';
import { recordIncident, resolveIncident } from '../registry/incidents.js';
import { endInstance, upsertInstance } from '../registry/instances.js';
import { LaunchError, type BotRuntime, type InstanceExit, type LaunchedInstance } from './runtime/types.js';

export interface ActivityDeps {
  db: Kysely<Database>;
  runtime: BotRuntime;
  logger: Logger;
  stopGraceMs: number;
  /** Mints the instance's CODEX32_BOT_TOKEN (good for its own /api/v1/self only). */
  botToken?: (botId: string, instanceId: string) => Promise<string>;
  /** incident.jsonl: one JSON line per incident, beside the database, for log shippers and grep. */
  incidentLog?: { write(line: string): unknown };
  /** Status changes and incidents, published once recorded. */
  events?: FleetEvents;
}

/** Incidents about a process that ended (or was ended for crossing a limit) carry the last lines it wrote: usually the reason. */
const WITH_LOG_LINES = new Set(['process_exited', 'crash_loop', 'launch_failed', 'memory_limit', 'heartbeat_lost']);
const EVIDENCE_LOG_LINES = 20;

export interface LaunchResult {
  instance: LaunchedInstance;
  healPolicy: HealPolicy;
  /** Set: the bot is running once its first heartbeat arrives. */
  heartbeatIntervalSeconds?: number | null;
}

export interface StatusRecord {
  botId: string;
  status: BotStatus;
  desiredState: DesiredState;
  statusReason: string | null;
  restartCount: number;
  instanceId: string | null;
  /** For the status event (absent from workflows older than events). */
  previous?: BotStatus;
  seq?: number;
}

export interface IncidentRecord {
  id: string;
  botId: string;
  instanceId: string | null;
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  evidence: Record<string, unknown>;
  outcome: string | null;
  seq?: number;
}

export interface StopRequest {
  botId: string;
  instanceId: string;
  pid: number | null;
  processStartTicks: string | null;
  /** Why, for the instance record (default: stopped on request). */
  reason?: string;
}

/** Failure types the workflow tells apart. */
export const FailureType = {
  botNotFound: 'BotNotFound',
  launchRejected: 'LaunchRejected',
} as const;

export function createActivities(deps: ActivityDeps) {
  const { db, runtime, logger } = deps;
  // Recorded is what counts: an event that cannot be delivered is logged, never a failed activity.
  const ordered = deps.events ? new OrderedPublisher(deps.events, (err, event) => logger.warn({ err, botId: event.bot_id }, 'could not publish a fleet event')) : null;
  const publish = async (event: FleetEvent) => ordered?.publish(event);
  return {
    /** Idempotent for one instanceId: a retry returns the process the first attempt started. */
    async launchInstance(input: { botId: string; instanceId: string }): Promise<LaunchResult> {
      const bot = await findBot(db, input.botId);
      if (!bot) throw ApplicationFailure.nonRetryable(`bot ${input.botId} is not in the registry`, FailureType.botNotFound);
      let instance: LaunchedInstance;
      try {
        instance = await runtime.launch({
          botId: bot.id,
          instanceId: input.instanceId,
          blueprint: bot.blueprint,
          image: bot.image,
          args: bot.args,
          env: bot.env,
          resources: bot.resources,
          // A retry mints another token for the same instance; any token of a running instance is good.
          ...(deps.botToken ? { identity: { CODEX32_BOT_TOKEN: await deps.botToken(bot.id, input.instanceId) } } : {}),
        });
      } catch (err) {
        if (err instanceof LaunchError) throw ApplicationFailure.nonRetryable(err.message, FailureType.launchRejected, { code: err.code });
        throw err;
      }
      await upsertInstance(db, {
        id: instance.instanceId,
        bot_id: bot.id,
        runtime: instance.runtime,
        host: instance.host,
        pid: instance.pid,
        process_start_ticks: instance.processStartTicks,
        log_path: instance.logPath,
        started_at: instance.startedAt,
      });
      return { instance, healPolicy: bot.heal_policy, heartbeatIntervalSeconds: bot.heartbeat_interval_seconds };
    },

    async stopInstance(input: StopRequest): Promise<InstanceExit> {
      const exit = await runtime.stop(input, deps.stopGraceMs);
      await endInstance(db, input.instanceId, { exit_code: exit.exitCode, exit_signal: exit.signal, end_reason: input.reason ?? 'stopped on request' });
      return exit;
    },

    async recordInstanceEnd(input: { instanceId: string } & InstanceExit): Promise<void> {
      await endInstance(db, input.instanceId, { exit_code: input.exitCode, exit_signal: input.signal, end_reason: input.reason });
    },

    async recordStatus(input: StatusRecord): Promise<void> {
      await recordBotStatus(db, input.botId, {
        status: input.status,
        desired_state: input.desiredState,
        status_reason: input.statusReason,
        restart_count: input.restartCount,
        current_instance_id: input.instanceId,
      });
      if (input.seq !== undefined) {
        await publish({
          kind: 'status',
          bot_id: input.botId,
          seq: input.seq,
          status: input.status,
          previous: input.previous ?? null,
          desired_state: input.desiredState,
          reason: input.statusReason,
          restart_count: input.restartCount,
          instance_id: input.instanceId,
          at: new Date().toISOString(),
        });
      }
    },

    async recordIncident(input: IncidentRecord): Promise<void> {
      const evidence = { ...input.evidence };
      if (WITH_LOG_LINES.has(input.kind) && evidence.last_log_lines === undefined) {
        evidence.last_log_lines = await runtime.recentLogs(input.botId, EVIDENCE_LOG_LINES).catch(() => []);
      }
      const written = await recordIncident(db, {
        id: input.id,
        bot_id: input.botId,
        instance_id: input.instanceId,
        kind: input.kind,
        severity: input.severity,
        message: input.message,
        evidence: JSON.stringify(evidence),
        outcome: input.outcome,
      });
      // Once per incident: a retried activity finds the row there and writes no second line.
      if (written) {
        deps.incidentLog?.write(
          `${JSON.stringify({ at: new Date().toISOString(), id: input.id, bot_id: input.botId, instance_id: input.instanceId, kind: input.kind, severity: input.severity, message: input.message, evidence, outcome: input.outcome })}\n`,
        );
      }
      logger.warn({ botId: input.botId, kind: input.kind, outcome: input.outcome }, input.message);
      if (input.seq !== undefined) {
        await publish({
          kind: 'incident',
          bot_id: input.botId,
          seq: input.seq,
          incident: { id: input.id, kind: input.kind, severity: input.severity, message: input.message, outcome: input.outcome, instance_id: input.instanceId },
          at: new Date().toISOString(),
        });
      }
    },

    /** The platform resolves what it can see is over (a degraded bot recovered); repeats change nothing. */
    async resolveIncident(input: { id: string; resolution: string }): Promise<void> {
      await resolveIncident(db, input.id, 'codex32', input.resolution);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
