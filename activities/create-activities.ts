import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { isForbiddenEnvName } from '../lib/bot-spec.js';
import type { BotStatus, DesiredState, HealPolicy } from '../lib/bot-status.js';
import { OrderedPublisher, type FleetEvents, type SequencedEvent } from '../lib/fleet-events.js';
import type { Logger } from '../lib/logger.js';
import { findBot, recordBotStatus } from '../registry/bots.js';
import type { Database } from '../registry/database.js';
import { recordIncident, resolveIncident } from '../registry/incidents.js';
import { endInstance, upsertInstance } from '../registry/instances.js';
import { ArtifactError } from '../runtime/artifact-archive.js';
import type { ArtifactCache } from '../runtime/artifact-cache.js';
import {
  LaunchError,
  type BotRuntime,
  type InstanceExit,
  type InstanceRef,
  type LaunchedInstance,
} from '../runtime/types.js';

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
  /** Told of a launched instance before its status is written: its first figures are there when it shows running. */
  launched?: (botId: string, instance: InstanceRef) => Promise<void>;
  /** Uploaded builds, unpacked on this host (local runtime). */
  artifacts?: ArtifactCache;
}

/** Incidents about a process that ended (or was ended for crossing a limit) carry the last lines it wrote: usually the reason. */
const WITH_LOG_LINES = new Set(['process_exited', 'crash_loop', 'launch_failed', 'memory_limit', 'heartbeat_lost']);
const EVIDENCE_LOG_LINES = 20;

export interface LaunchResult {
  instance: LaunchedInstance;
  healPolicy: HealPolicy;
  /** Set: the bot is running once its first heartbeat arrives. */
  heartbeatIntervalSeconds?: number | null;
  /** The status the activity recorded once the process started (when asked to, with `settle`). */
  settled?: { status: BotStatus; reason: string | null };
}

export interface LaunchRequest {
  botId: string;
  instanceId: string;
  /**
   * Records of the death this launch heals (a heal without backoff), written
   * once the new process is on its way instead of before it: the end of the
   * old instance, its incident, the "deploying" status.
   */
  records?: { instanceEnd?: { instanceId: string } & InstanceExit; incident?: IncidentRecord; status?: StatusRecord };
  /** Record the status once the process started (running; deploying while a first heartbeat is awaited), as event `seq`. */
  settle?: { seq: number; desiredState: DesiredState; restartCount: number };
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
  /** The "stopping" status, written before the process is signalled (a retry writes it again, as the same event). */
  status?: StatusRecord;
}

/** Failure types the workflow tells apart. */
export const FailureType = {
  botNotFound: 'BotNotFound',
  launchRejected: 'LaunchRejected',
} as const;

export function createActivities(deps: ActivityDeps) {
  const { db, runtime, logger } = deps;
  // Recorded is what counts: an event that cannot be delivered is logged, never a failed activity.
  const ordered = deps.events
    ? new OrderedPublisher(deps.events, (err, event) =>
        logger.warn({ err, botId: event.bot_id }, 'could not publish a fleet event'),
      )
    : null;
  const publish = async (event: SequencedEvent) => ordered?.publish(event);

  const writeInstanceEnd = (input: { instanceId: string } & InstanceExit) =>
    endInstance(db, input.instanceId, {
      exit_code: input.exitCode,
      exit_signal: input.signal,
      end_reason: input.reason,
    });

  async function writeStatus(input: StatusRecord): Promise<void> {
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
  }

  /** Incidents about a process that ended carry the last lines it wrote (usually the reason). */
  async function incidentLogLines(input: IncidentRecord): Promise<string[] | undefined> {
    if (!WITH_LOG_LINES.has(input.kind) || input.evidence.last_log_lines !== undefined) return undefined;
    return runtime.recentLogs(input.botId, EVIDENCE_LOG_LINES).catch(() => []);
  }

  async function writeIncident(input: IncidentRecord, logLines: string[] | undefined): Promise<void> {
    const evidence = logLines ? { ...input.evidence, last_log_lines: logLines } : { ...input.evidence };
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
      logger.warn({ botId: input.botId, kind: input.kind, outcome: input.outcome }, input.message);
    }
    if (input.seq !== undefined) {
      await publish({
        kind: 'incident',
        bot_id: input.botId,
        seq: input.seq,
        incident: {
          id: input.id,
          kind: input.kind,
          severity: input.severity,
          message: input.message,
          outcome: input.outcome,
          instance_id: input.instanceId,
        },
        at: new Date().toISOString(),
      });
    }
  }
  /** An artifact's directory on this host; a build that cannot be unpacked here is a launch that cannot work. */
  async function unpacked(digest: string): Promise<string> {
    if (!deps.artifacts)
      throw new LaunchError(`this worker cannot run uploaded artifacts (${runtime.kind} runtime)`, 'image_unsupported');
    try {
      return await deps.artifacts.unpacked(digest);
    } catch (err) {
      if (err instanceof ArtifactError)
        throw new LaunchError(`artifact ${digest}: ${err.message}`, 'blueprint_invalid');
      throw err;
    }
  }

  return {
    /** Idempotent for one instanceId: a retry returns the process the first attempt started, and writes the same records again (each once). */
    async launchInstance(input: LaunchRequest): Promise<LaunchResult> {
      const bot = await findBot(db, input.botId);
      if (!bot)
        throw ApplicationFailure.nonRetryable(`bot ${input.botId} is not in the registry`, FailureType.botNotFound);
      // The last lines of the instance that died, read before the new one writes to the same log.
      const incident = input.records?.incident;
      const logLines = incident ? await incidentLogLines(incident) : undefined;
      const writeRecords = async () => {
        const r = input.records;
        if (!r) return;
        await Promise.all([
          r.instanceEnd ? writeInstanceEnd(r.instanceEnd) : undefined,
          r.incident ? writeIncident(r.incident, logLines) : undefined,
        ]);
        // After them: whoever sees the status finds its incident.
        if (r.status) await writeStatus(r.status);
      };
      // Names refused since an older release stored them never reach the process.
      const refused = Object.keys(bot.env).filter(isForbiddenEnvName);
      if (refused.length > 0)
        logger.warn(
          { botId: bot.id, names: refused },
          `left out of bot ${bot.id}'s environment: ${refused.join(', ')} (refused names; remove them with PATCH)`,
        );
      let instance: LaunchedInstance;
      try {
        instance = await runtime.launch({
          botId: bot.id,
          instanceId: input.instanceId,
          blueprint: bot.blueprint,
          image: bot.image,
          artifact: bot.artifact ? { dir: await unpacked(bot.artifact), entrypoint: bot.entrypoint ?? '' } : null,
          args: bot.args,
          env: Object.fromEntries(Object.entries(bot.env).filter(([name]) => !isForbiddenEnvName(name))),
          resources: bot.resources,
          // A retry mints another token for the same instance; any token of a running instance is good.
          ...(deps.botToken ? { identity: { CODEX32_BOT_TOKEN: await deps.botToken(bot.id, input.instanceId) } } : {}),
        });
      } catch (err) {
        await writeRecords();
        if (err instanceof LaunchError)
          throw ApplicationFailure.nonRetryable(err.message, FailureType.launchRejected, { code: err.code });
        throw err;
      }
      await Promise.all([
        upsertInstance(db, {
          id: instance.instanceId,
          bot_id: bot.id,
          runtime: instance.runtime,
          host: instance.host,
          pid: instance.pid,
          process_start_ticks: instance.processStartTicks,
          log_path: instance.logPath,
          started_at: instance.startedAt,
          revision: bot.revision,
        }),
        writeRecords(),
        deps
          .launched?.(bot.id, instance)
          .catch((err: unknown) =>
            logger.warn({ err, botId: bot.id }, 'could not take the first figures of a launched bot'),
          ),
      ]);
      let settled: LaunchResult['settled'];
      if (input.settle) {
        // A bot that heartbeats is running when it says so (its first heartbeat), not when its process exists.
        settled = bot.heartbeat_interval_seconds
          ? { status: 'deploying', reason: 'started; waiting for its first heartbeat' }
          : { status: 'running', reason: null };
        await writeStatus({
          botId: bot.id,
          status: settled.status,
          desiredState: input.settle.desiredState,
          statusReason: settled.reason,
          restartCount: input.settle.restartCount,
          instanceId: input.instanceId,
          previous: 'deploying',
          seq: input.settle.seq,
        });
      }
      return {
        instance,
        healPolicy: bot.heal_policy,
        heartbeatIntervalSeconds: bot.heartbeat_interval_seconds,
        ...(settled ? { settled } : {}),
      };
    },

    async stopInstance(input: StopRequest): Promise<InstanceExit> {
      const { status, ...ref } = input;
      if (status) await writeStatus(status);
      const exit = await runtime.stop(ref, deps.stopGraceMs);
      await endInstance(db, input.instanceId, {
        exit_code: exit.exitCode,
        exit_signal: exit.signal,
        end_reason: input.reason ?? 'stopped on request',
      });
      return exit;
    },

    /** The bot is deleted: the runtime's objects of it go (idempotent). */
    async releaseBot(input: { botId: string }): Promise<void> {
      await runtime.release(input.botId);
    },

    async recordInstanceEnd(input: { instanceId: string } & InstanceExit): Promise<void> {
      await writeInstanceEnd(input);
    },

    async recordStatus(input: StatusRecord): Promise<void> {
      await writeStatus(input);
    },

    async recordIncident(input: IncidentRecord): Promise<void> {
      await writeIncident(input, await incidentLogLines(input));
    },

    /** The platform resolves what it can see is over (a degraded bot recovered); repeats change nothing. */
    async resolveIncident(input: { id: string; resolution: string }): Promise<void> {
      await resolveIncident(db, input.id, 'codex32', input.resolution);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
