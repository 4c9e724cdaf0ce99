import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { DEFAULT_HEALTH_THRESHOLDS } from '../lib/bot-status.js';
import { isTerminalPhase, type DeploymentPhase, type GateFailure } from '../lib/deployment-phases.js';
import { deploymentStepEvent, type FleetEvents } from '../lib/fleet-events.js';
import type { Logger } from '../lib/logger.js';
import { findBot } from '../registry/bots.js';
import type { Database, DeploymentRow, DeploymentStep } from '../registry/database.js';
import {
  lockDeployment,
  recordStep,
  setDeploymentEvidence,
  setRollbackRevision,
  type StepRecord,
} from '../registry/deployments.js';
import { heartbeatsOf } from '../registry/heartbeats.js';
import { recordIncident } from '../registry/incidents.js';
import {
  addRevision,
  applyRevision,
  findRevision,
  latestHealthyBefore,
  markPassedGate,
  sameSpec,
} from '../registry/revisions.js';
import type { BotRuntime } from '../runtime/types.js';
import { botWorkflowId, deployUpdate, type DeployRequest } from '../workflows/messages.js';

export interface DeploymentActivityDeps {
  db: Kysely<Database>;
  client: Client;
  runtime: BotRuntime;
  logger: Logger;
  events?: FleetEvents;
  incidentLog?: { write(line: string): unknown };
}

const EVIDENCE_LOG_LINES = 20;

/** Failure types the deployment workflow may see. */
export const DeploymentFailureType = { revisionMissing: 'RevisionMissing', specRefused: 'SpecRefused' } as const;

/** What a deployment's workflow does outside itself: the registry, the bot's workflow, the runtime's logs. */
export function createDeploymentActivities(deps: DeploymentActivityDeps) {
  const { db, client, runtime, logger } = deps;

  /** A recorded step as a fleet event: the record is what counts, so a failed publish is only logged. */
  const publishStep = async (botId: string, row: DeploymentRow, step: DeploymentStep) =>
    deps.events
      ?.publish(deploymentStepEvent(row, step))
      .catch((err: unknown) => logger.warn({ err, botId }, 'could not publish a deployment step'));

  return {
    /**
     * The bot's spec becomes the revision's, unless the deployment has ended
     * meanwhile (superseded: the newer one applies its own). Idempotent.
     * With `steps`, the deployment's "applying" step and, when the bot is to
     * run the revision now (running, or start_if_stopped), its "verifying"
     * step are recorded in the same transaction: one registry round for the
     * three, where the gate's clock is waiting.
     */
    async applyDeploymentRevision(input: {
      deploymentId: string;
      botId: string;
      revision: number;
      steps?: {
        applying: DeploymentStep;
        verifying: DeploymentStep;
        previousRevision: number | null;
        startIfStopped: boolean;
      };
    }): Promise<{ applied: boolean; botRunning: boolean; phase?: DeploymentPhase }> {
      const { steps } = input;
      const written: Array<{ row: DeploymentRow; step: DeploymentStep }> = [];
      const result = await db.transaction().execute(async (trx) => {
        const d = await lockDeployment(trx, input.deploymentId);
        if (!d || isTerminalPhase(d.phase)) return { applied: false, botRunning: false };
        const revision = await findRevision(trx, input.botId, input.revision);
        if (!revision)
          throw ApplicationFailure.nonRetryable(
            `revision ${input.revision} of bot ${input.botId} does not exist`,
            DeploymentFailureType.revisionMissing,
          );
        let bot;
        try {
          bot = await applyRevision(trx, input.botId, revision);
        } catch (err) {
          // The registry refuses the spec itself (a constraint): no retry can change that.
          if (/^23/.test((err as { code?: string }).code ?? ''))
            throw ApplicationFailure.nonRetryable((err as Error).message, DeploymentFailureType.specRefused);
          throw err;
        }
        const botRunning = bot?.desired_state === 'running';
        if (!bot || !steps) return { applied: Boolean(bot), botRunning };
        const record = async (phase: DeploymentPhase, step: DeploymentStep, extra: Partial<StepRecord> = {}) => {
          const r = await recordStep(trx, { id: input.deploymentId, phase, step, ...extra });
          if (r.written && r.row) written.push({ row: r.row, step });
        };
        // A retry after the commit finds both steps there and writes neither again.
        await record('applying', steps.applying, { revision: input.revision, previousRevision: steps.previousRevision });
        const verifying = botRunning || steps.startIfStopped;
        if (verifying) await record('verifying', steps.verifying);
        return { applied: true, botRunning, phase: verifying ? ('verifying' as const) : ('applying' as const) };
      });
      for (const { row, step } of written) await publishStep(input.botId, row, step);
      return result;
    },

    /** The bot's lifecycle takes the deployment (an update: accepted or refused at once, with the reason). */
    async askBotToDeploy(
      input: { botId: string } & DeployRequest,
    ): Promise<{ accepted: true } | { accepted: false; reason: string }> {
      try {
        const request = {
          deploymentWorkflowId: input.deploymentWorkflowId,
          token: input.token,
          startIfStopped: input.startIfStopped,
        };
        // The bot's workflow answers at once (accepted or refused); without a worker it never would. A worker
        // shutting down cancels the wait: the next worker asks again (the token makes it one deploy).
        await client.withAbortSignal(Context.current().cancellationSignal, () =>
          client.withDeadline(Date.now() + 20_000, () =>
            client.workflow
              .getHandle(botWorkflowId(input.botId))
              .executeUpdate(deployUpdate, { args: [request], updateId: input.token }),
          ),
        );
        return { accepted: true };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError)
          return { accepted: false, reason: err.cause?.message ?? err.message };
        // Deleted meanwhile: no retry brings its lifecycle back.
        if (err instanceof WorkflowNotFoundError)
          return { accepted: false, reason: `bot ${input.botId} has no lifecycle workflow any more (deleted?)` };
        throw err;
      }
    },

    /**
     * The next phase and its step, published as a fleet event when written;
     * `healthyRevision`: the revision passed its gate (recorded with the step).
     */
    async recordDeploymentStep(
      input: StepRecord & { botId: string; healthyRevision?: number },
    ): Promise<{ written: boolean; phase: string }> {
      const { botId, healthyRevision, ...record } = input;
      const { row, written } = await db.transaction().execute(async (trx) => {
        if (healthyRevision !== undefined) await markPassedGate(trx, botId, healthyRevision);
        return recordStep(trx, record);
      });
      if (!row) return { written: false, phase: 'gone' };
      if (written) await publishStep(botId, row, input.step);
      return { written, phase: row.phase };
    },

    /** The new instance's heartbeat counters (errors / requests since it started) and the bot's own error-rate threshold. */
    async gateFigures(input: { botId: string; instanceId: string }): Promise<{
      requests: number;
      errors: number;
      errorRate: number | null;
      threshold: number;
    }> {
      const [beats, bot] = await Promise.all([heartbeatsOf(db, [input.botId]), findBot(db, input.botId)]);
      const beat = beats.get(input.botId);
      const threshold = bot?.health_rules.error_rate_threshold ?? DEFAULT_HEALTH_THRESHOLDS.error_rate_threshold;
      if (!beat || beat.instance_id !== input.instanceId) return { requests: 0, errors: 0, errorRate: null, threshold };
      const requests = Number(beat.requests);
      const errors = Number(beat.errors);
      return { requests, errors, errorRate: requests > 0 ? errors / requests : null, threshold };
    },

    /**
     * A new revision with the spec of the latest healthy one before the
     * failed revision (skipping any that runs the same spec as the failed
     * one), applied to the bot; null when there is none.
     */
    async prepareRollback(input: {
      deploymentId: string;
      botId: string;
      failedRevision: number;
      createdBy: string;
    }): Promise<{ revision: number; restores: number } | null> {
      return db.transaction().execute(async (trx) => {
        const d = await lockDeployment(trx, input.deploymentId);
        if (!d || isTerminalPhase(d.phase)) return null;
        // A retry after the revision was made finds it.
        if (d.rollback_revision !== null) {
          const made = await findRevision(trx, input.botId, d.rollback_revision);
          if (made) return { revision: made.revision, restores: made.restores ?? made.revision };
        }
        const failed = await findRevision(trx, input.botId, input.failedRevision);
        let before = input.failedRevision;
        for (;;) {
          const candidate = await latestHealthyBefore(trx, input.botId, before);
          if (!candidate) return null;
          if (failed && sameSpec(candidate.spec, failed.spec)) {
            before = candidate.revision;
            continue;
          }
          const made = await addRevision(trx, {
            botId: input.botId,
            spec: candidate.spec,
            source: 'rollback',
            deploymentId: input.deploymentId,
            restores: candidate.revision,
            createdBy: input.createdBy,
          });
          await applyRevision(trx, input.botId, made);
          await setRollbackRevision(trx, input.deploymentId, made.revision);
          return { revision: made.revision, restores: candidate.revision };
        }
      });
    },

    /** A deployment_failed incident with the evidence (the rule, exit codes, the new instance's last log lines), kept on the deployment too. */
    async recordDeploymentFailure(input: {
      deploymentId: string;
      botId: string;
      revision: number;
      instanceId: string | null;
      failure: GateFailure;
      rollingBack: boolean;
    }): Promise<void> {
      const lines = await runtime.recentLogs(input.botId, EVIDENCE_LOG_LINES).catch(() => []);
      const evidence = {
        deployment_id: input.deploymentId,
        revision: input.revision,
        rule: input.failure.rule,
        detail: input.failure.detail,
        ...input.failure.evidence,
        last_log_lines: lines,
      };
      const outcome = input.rollingBack
        ? 'rolling back to the latest healthy revision'
        : 'not rolled back: the bot is left as it is';
      const message = `deployment of revision ${input.revision} of bot ${input.botId} failed its health gate: ${input.failure.detail}`;
      const written = await recordIncident(db, {
        // One incident per failed deployment, whatever retries: it takes the deployment's id.
        id: input.deploymentId,
        bot_id: input.botId,
        instance_id: input.instanceId,
        kind: 'deployment_failed',
        severity: 'critical',
        message,
        evidence: JSON.stringify(evidence),
        outcome,
      });
      await setDeploymentEvidence(db, input.deploymentId, evidence);
      if (written) {
        deps.incidentLog?.write(
          `${JSON.stringify({ at: new Date().toISOString(), bot_id: input.botId, kind: 'deployment_failed', severity: 'critical', message, evidence, outcome })}\n`,
        );
        logger.warn({ botId: input.botId, deploymentId: input.deploymentId, rule: input.failure.rule }, message);
      }
    },
  };
}

export type DeploymentActivities = ReturnType<typeof createDeploymentActivities>;
