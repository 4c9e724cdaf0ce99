import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeploymentActivities } from '../activities/deployment-activities.js';
import { isTerminalPhase, type DeploymentPhase, type HealthGate } from '../lib/deployment-phases.js';
import { DeploymentPhaseKey } from '../lib/search-attributes.js';
import {
  deadlineFailure,
  gateVerdict,
  newGate,
  observeGate,
  type GateFailure,
  type GateState,
} from './deployment-gate.js';
import { botObservedSignal, cancelDeploymentUpdate, progressQuery, supersededSignal } from './deployment-messages.js';
import { botWorkflowId, deploymentReleasedSignal } from './messages.js';

/** Workflow changes that alter the commands a history holds, for `patched()`. */
const PATCH_APPLY_IN_ONE_STEP = 'deployment-applies-in-one-step';

/** Registry writes: short, retried until they go through. */
const quick = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
} as const;

/** The bot's lifecycle takes the deploy: a task any worker runs (and a worker shutting down hands back). */
const { askBotToDeploy } = proxyActivities<DeploymentActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
});

const { applyDeploymentRevision, recordDeploymentStep, gateFigures, prepareRollback, recordDeploymentFailure } =
  proxyLocalActivities<DeploymentActivities>(quick);

export interface DeploymentInput {
  deploymentId: string;
  botId: string;
  /** The revision to run (created with the deployment). */
  revision: number;
  /** What the bot ran before: the revision a failed gate goes back from. */
  previousRevision: number | null;
  gate: HealthGate;
  autoRollback: boolean;
  startIfStopped: boolean;
  /** Who asked: recorded on the revision a rollback creates. */
  requestedBy: string;
}

type Ending = 'superseded' | 'cancelled' | null;

/**
 * One deployment of one bot, as Temporal UI shows it: apply the revision,
 * have the bot's lifecycle run it, hold it to the health gate, and on
 * failure go back to the latest healthy revision through the same gate.
 * The bot's lifecycle workflow reports what happens to the new instance
 * (botObserved); the gate is timers over those reports, so a worker that
 * dies mid-way picks up where it was.
 */
export async function botDeployment(input: DeploymentInput): Promise<DeploymentPhase> {
  const { deploymentId, botId, gate } = input;
  const wfId = workflowInfo().workflowId;
  let phase: DeploymentPhase = 'pending';
  let ending: Ending = null;
  let endedBy = '';
  let g: GateState = newGate();
  let pending: Parameters<typeof observeGate>[1][] = [];

  setHandler(progressQuery, () => ({ phase, instanceId: g.instanceId, upSince: g.upSince }));
  /** The deploy request whose reports the gate takes now: the revision's, then the rollback's. */
  let token = '';
  setHandler(botObservedSignal, (o) => {
    if (o.token === token) pending.push(o);
  });
  setHandler(supersededSignal, ({ by }) => {
    ending ??= 'superseded';
    endedBy = by;
  });
  setHandler(
    cancelDeploymentUpdate,
    ({ by }) => {
      ending ??= 'cancelled';
      endedBy = by;
      return { phase };
    },
    {
      validator: (_request: { by: string }) => {
        if (ending || isTerminalPhase(phase))
          throw ApplicationFailure.create({
            type: 'already_ended',
            message: `deployment ${deploymentId} has already ended (${ending ?? phase})`,
            nonRetryable: true,
          });
      },
    },
  );

  /** Moves to `next`, recorded with its step; false when someone else ended the deployment meanwhile. */
  const enter = async (
    next: DeploymentPhase,
    detail: string,
    extra: Omit<Parameters<typeof recordDeploymentStep>[0], 'id' | 'botId' | 'phase' | 'step'> = {},
  ): Promise<boolean> => {
    const recorded = await recordDeploymentStep({
      id: deploymentId,
      botId,
      phase: next,
      step: { phase: next, at: new Date().toISOString(), detail },
      final: isTerminalPhase(next),
      ...extra,
    });
    // Not written because it was already (this step ran before its worker died): go on. Ended by someone else: stop.
    if (
      !recorded.written &&
      (recorded.phase === 'gone' || (isTerminalPhase(recorded.phase) && recorded.phase !== next))
    )
      return false;
    phase = next;
    upsertSearchAttributes([{ key: DeploymentPhaseKey, value: next }]);
    return true;
  };

  const release = async () => {
    await getExternalWorkflowHandle(botWorkflowId(botId))
      .signal(deploymentReleasedSignal, { deploymentWorkflowId: wfId })
      .catch(() => undefined);
  };

  /** The bot's lifecycle runs the revision just applied, and the gate judges it: null when it passed. */
  const runThroughGate = async (deployToken: string): Promise<GateFailure | null | Ending> => {
    g = newGate();
    pending = [];
    token = deployToken;
    const answer = await askBotToDeploy({
      botId,
      deploymentWorkflowId: wfId,
      token: deployToken,
      startIfStopped: input.startIfStopped,
    });
    if (!answer.accepted)
      return { rule: 'refused', detail: `the bot's workflow refused it: ${answer.reason}`, evidence: {} };
    const startedAt = Date.now();
    for (;;) {
      for (const o of pending.splice(0)) observeGate(g, o, Date.now());
      if (ending) return ending;
      const v = gateVerdict(g, gate, startedAt, Date.now());
      if (v.verdict === 'failed') return g.failure;
      if (v.verdict === 'deadline') return deadlineFailure(g, gate);
      if (v.verdict === 'healthy_long_enough') {
        const figures = await gateFigures({ botId, instanceId: g.instanceId! });
        const limit = gate.max_error_rate ?? figures.threshold;
        if (figures.errorRate !== null && figures.errorRate > limit)
          return {
            rule: 'error_rate',
            detail: `the new instance's error rate ${pct(figures.errorRate)} is over ${pct(limit)} (${figures.errors} errors in ${figures.requests} requests)`,
            evidence: { instance_id: g.instanceId, ...figures, max_error_rate: limit },
          };
        // Reports that came in while the figures were read still count.
        for (const o of pending.splice(0)) observeGate(g, o, Date.now());
        if (g.failure) return g.failure;
        return null;
      }
      await condition(() => pending.length > 0 || ending !== null, v.wakeAt - Date.now());
    }
  };

  const finish = async (next: DeploymentPhase, detail: string, extra: Parameters<typeof enter>[2] = {}) => {
    await enter(next, detail, extra);
    await release();
    await condition(allHandlersFinished);
    return next;
  };

  /** Superseded: the API recorded it, the newer deployment owns the bot now. Cancelled: recorded here. */
  const endedFromOutside = async (how: 'superseded' | 'cancelled') => {
    if (how === 'cancelled')
      return finish('cancelled', `cancelled by ${endedBy}; the bot is left as it is`, {
        outcome: 'cancelled',
        reason: `cancelled by ${endedBy}`,
      });
    await release();
    await condition(allHandlersFinished);
    return 'superseded' as const;
  };

  const applyingDetail = `applying revision ${input.revision}`;
  const verifyingDetail = `the bot runs revision ${input.revision}; it must be up for ${gate.min_healthy_seconds} s in a row within ${gate.progress_deadline_seconds} s`;
  let applied: Awaited<ReturnType<typeof applyDeploymentRevision>>;
  if (patched(PATCH_APPLY_IN_ONE_STEP)) {
    // One activity applies the revision and records its steps: the gate's clock is waiting for the bot.
    const at = new Date().toISOString();
    try {
      applied = await applyDeploymentRevision({
        deploymentId,
        botId,
        revision: input.revision,
        steps: {
          applying: { phase: 'applying', at, detail: applyingDetail },
          verifying: { phase: 'verifying', at, detail: verifyingDetail },
          previousRevision: input.previousRevision,
          startIfStopped: input.startIfStopped,
        },
      });
    } catch (err) {
      const why = `revision ${input.revision} could not be applied: ${failureMessage(err)}`;
      // Rolled back with the revision: the step says what was tried before the failure says why.
      await enter('applying', applyingDetail, { revision: input.revision, previousRevision: input.previousRevision });
      return finish('failed', why, { outcome: 'failed', reason: why });
    }
    if (!applied.applied) return 'superseded';
    phase = applied.phase ?? 'applying';
    upsertSearchAttributes([{ key: DeploymentPhaseKey, value: phase }]);
  } else {
    // Deployments started before the patch replay their three steps as they ran.
    if (
      !(await enter('applying', applyingDetail, { revision: input.revision, previousRevision: input.previousRevision }))
    )
      return 'superseded';
    try {
      applied = await applyDeploymentRevision({ deploymentId, botId, revision: input.revision });
    } catch (err) {
      const why = `revision ${input.revision} could not be applied: ${failureMessage(err)}`;
      return finish('failed', why, { outcome: 'failed', reason: why });
    }
    if (!applied.applied) return 'superseded';
  }
  if (ending) return endedFromOutside(ending);
  if (!applied.botRunning && !input.startIfStopped)
    return finish(
      'succeeded',
      `revision ${input.revision} applied; the bot is stopped (start_if_stopped is false), so it runs this revision at its next start`,
      { outcome: 'applied_stopped' },
    );
  if (phase !== 'verifying') await enter('verifying', verifyingDetail);
  const verdict = await runThroughGate(`${deploymentId}:deploy`);
  if (verdict === 'superseded' || verdict === 'cancelled') return endedFromOutside(verdict);
  if (verdict === null)
    return finish('succeeded', `revision ${input.revision} was up for ${gate.min_healthy_seconds} s: healthy`, {
      outcome: 'succeeded',
      healthyRevision: input.revision,
    });

  const failure = verdict;
  await recordDeploymentFailure({
    deploymentId,
    botId,
    revision: input.revision,
    instanceId: g.instanceId,
    failure,
    rollingBack: input.autoRollback && !failure.stoppedByOperator,
  });
  if (!input.autoRollback || failure.stoppedByOperator)
    return finish('failed', `revision ${input.revision} failed the gate: ${failure.detail}`, {
      outcome: 'failed',
      reason: failure.detail,
    });

  const target = await prepareRollback({
    deploymentId,
    botId,
    failedRevision: input.revision,
    createdBy: input.requestedBy,
  });
  if (!target)
    return finish(
      'failed',
      `revision ${input.revision} failed the gate (${failure.detail}), and there is no earlier healthy revision to roll back to`,
      { outcome: 'failed', reason: `${failure.detail}; no earlier healthy revision to roll back to` },
    );
  if (
    !(await enter(
      'rolling_back',
      `revision ${input.revision} failed the gate: ${failure.detail}; rolling back to revision ${target.restores} (as revision ${target.revision})`,
      { rollbackRevision: target.revision, reason: failure.detail },
    ))
  )
    return 'superseded';
  if (ending) return endedFromOutside(ending);
  const back = await runThroughGate(`${deploymentId}:rollback`);
  if (back === 'superseded' || back === 'cancelled') return endedFromOutside(back);
  if (back === null)
    return finish(
      'rolled_back',
      `revision ${target.revision} (the spec of revision ${target.restores}) is up and healthy again`,
      { outcome: 'rolled_back', reason: failure.detail, healthyRevision: target.revision },
    );
  return finish('failed', `the rollback to revision ${target.restores} failed too: ${back.detail}`, {
    outcome: 'failed',
    reason: `${failure.detail}; the rollback failed too: ${back.detail}`,
  });
}

/** What an activity's failure says, past its wrapping. */
function failureMessage(err: unknown): string {
  return err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10} %`;
}
