import { createHash, randomUUID } from 'node:crypto';
import { isTerminalPhase } from '../lib/deployment-phases.js';
import { deploymentStepEvent, type FleetEvent } from '../lib/fleet-events.js';
import { findBot, lockBot } from '../registry/bots.js';
import type { BotRow, DeploymentRow, RevisionSpec } from '../registry/database.js';
import {
  deploymentConflict,
  endDeployment,
  findActiveDeployment,
  findDeployment,
  insertDeployment,
  recordStep,
} from '../registry/deployments.js';
import { addRevision } from '../registry/revisions.js';
import { recordedAs, type Principal } from './auth/principal.js';
import type { AppDeps } from './deps.js';
import type { DeploymentSettings } from './views/deployment.js';
import { ApiError } from './views/problem.js';

export interface NewDeployment {
  bot: BotRow;
  spec: RevisionSpec;
  source: 'deployment' | 'rollback';
  /** A rollback: the revision whose spec it runs again. */
  restores?: number;
  ref: string | null;
  changes: string[];
  settings: DeploymentSettings;
  supersede: boolean;
  principal: Principal;
  idempotency?: { key: string; hash: string };
}

/** The one fingerprint of a request for Idempotency-Key: the same key with another body is refused. */
export function requestHash(body: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : Array.isArray(v)
        ? v.map(canonical)
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

function activeConflict(active: DeploymentRow): ApiError {
  return new ApiError(
    409,
    'conflict',
    'Deployment in progress',
    `Bot ${active.bot_id} has a deployment in progress: ${active.id} (${active.phase}, revision ${active.revision ?? '?'}). One deployment per bot at a time: wait for it (GET /api/v1/deployments/${active.id}?wait=60), cancel it (POST /api/v1/deployments/${active.id}/cancel), or send "supersede": true to take over. Nothing was deployed.`,
    [{ path: 'bot_id', message: `active deployment ${active.id}` }],
  );
}

/**
 * Records a deployment with its new revision (under a lock on the bot, so
 * deployments of one bot queue up: one active at a time, or the active one
 * superseded), then starts its workflow.
 */
export async function createDeployment(deps: AppDeps, n: NewDeployment): Promise<DeploymentRow> {
  const { db, workflows } = deps;
  const id = randomUUID();
  const by = recordedAs(n.principal);
  const at = new Date().toISOString();
  let superseded: DeploymentRow | undefined;
  let row: DeploymentRow;
  try {
    row = await db.transaction().execute(async (trx) => {
      const current = await lockBot(trx, n.bot.id);
      if (!current)
        throw new ApiError(404, 'not-found', 'Not found', `Bot "${n.bot.id}" does not exist (deleted meanwhile).`);
      const active = await findActiveDeployment(trx, n.bot.id);
      if (active) {
        if (!n.supersede) throw activeConflict(active);
        await endDeployment(
          trx,
          active.id,
          'superseded',
          { phase: 'superseded', at, detail: `superseded by deployment ${id}, requested by ${by}` },
          `superseded by deployment ${id}`,
        );
        superseded = active;
      }
      const revision = await addRevision(trx, {
        botId: n.bot.id,
        spec: n.spec,
        source: n.source,
        deploymentId: id,
        restores: n.restores ?? null,
        createdBy: by,
      });
      return insertDeployment(trx, {
        id,
        bot_id: n.bot.id,
        ref: n.ref,
        changes: JSON.stringify(n.changes),
        action: null,
        result: null,
        reason: null,
        requested_by: by,
        phase: 'pending',
        revision: revision.revision,
        previous_revision: current.revision,
        rollback_revision: null,
        steps: JSON.stringify([
          {
            phase: 'pending',
            at,
            detail: `requested by ${by}: revision ${revision.revision}${n.restores ? ` (the spec of revision ${n.restores})` : ''}${n.ref ? ` (${n.ref})` : ''}`,
          },
        ]),
        outcome: null,
        settings: JSON.stringify(n.settings),
        idempotency_key: n.idempotency?.key ?? null,
        request_hash: n.idempotency?.hash ?? null,
        evidence: null,
        finished_at: null,
      });
    });
  } catch (err) {
    const conflict = deploymentConflict(err);
    if (conflict === 'active') {
      const active = await findActiveDeployment(db, n.bot.id);
      if (active) throw activeConflict(active);
    }
    throw err;
  }
  if (superseded)
    await workflows
      .supersedeDeployment(superseded.id, by)
      .catch((err: unknown) =>
        deps.logger.warn({ err, deploymentId: superseded!.id }, 'could not tell a superseded deployment'),
      );
  try {
    await workflows.startDeployment({
      deploymentId: id,
      botId: n.bot.id,
      revision: row.revision!,
      previousRevision: row.previous_revision,
      gate: {
        min_healthy_seconds: n.settings.health_gate.min_healthy_seconds,
        progress_deadline_seconds: n.settings.health_gate.progress_deadline_seconds,
        max_error_rate: n.settings.health_gate.max_error_rate ?? null,
      },
      autoRollback: n.settings.auto_rollback,
      startIfStopped: n.settings.start_if_stopped,
      requestedBy: by,
    });
  } catch (err) {
    const reason = 'the workflow service did not answer: nothing was deployed';
    await recordStep(db, {
      id,
      phase: 'failed',
      step: { phase: 'failed', at: new Date().toISOString(), detail: reason },
      outcome: 'failed',
      reason,
      final: true,
    });
    throw err;
  }
  await deps.events?.publish(deploymentStepEvent(row, row.steps[0]!)).catch(() => undefined);
  return row;
}

/**
 * A deployment's row, read now and again each time it may have changed:
 * woken by its fleet events, and at least every second (events can be
 * missed while Redis is away). Ends when the row is gone, or after one last
 * read once `signal` aborts.
 */
export async function* deploymentReads(
  deps: AppDeps,
  id: string,
  signal: AbortSignal,
): AsyncGenerator<DeploymentRow, void, undefined> {
  let wake: (() => void) | null = null;
  const off = deps.events?.subscribe((e: FleetEvent) => {
    if (e.kind === 'deployment' && e.deployment_id === id) wake?.();
  });
  try {
    for (;;) {
      const row = await findDeployment(deps.db, id);
      if (!row) return;
      yield row;
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 1000);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = null;
          resolve();
        }
        wake = done;
        signal.addEventListener('abort', done);
      });
    }
  } finally {
    off?.();
  }
}

/** The deployment once it has ended, or as it is after `seconds` (or when `signal` aborts). */
export async function waitForDeployment(
  deps: AppDeps,
  id: string,
  seconds: number,
  signal?: AbortSignal,
): Promise<DeploymentRow | undefined> {
  const deadline = AbortSignal.timeout(seconds * 1000);
  let last: DeploymentRow | undefined;
  for await (const row of deploymentReads(deps, id, signal ? AbortSignal.any([signal, deadline]) : deadline)) {
    last = row;
    if (isTerminalPhase(row.phase)) break;
  }
  return last;
}

/** The bot's row, or 404 saying what to do. */
export async function botToDeploy(deps: AppDeps, botId: string): Promise<BotRow> {
  const bot = await findBot(deps.db, botId);
  if (!bot)
    throw new ApiError(
      404,
      'not-found',
      'Not found',
      `Bot "${botId}" does not exist. Register it first with POST /api/v1/bots, then deploy.`,
    );
  return bot;
}
