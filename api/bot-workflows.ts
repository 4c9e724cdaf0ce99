import {
  isGrpcDeadlineError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes } from '@temporalio/common';
import proto from '@temporalio/proto';
import { BotIdKey, BotRoleKey, BotStatusKey, DeploymentPhaseKey } from '../lib/search-attributes.js';
import type { botDeployment, DeploymentInput } from '../workflows/bot-deployment.js';
import { cancelDeploymentUpdate, deploymentWorkflowId, supersededSignal } from '../workflows/deployment-messages.js';
import { signalBot } from '../lib/temporal.js';
import type { BotRow } from '../registry/database.js';
import { initialState } from '../workflows/bot-state.js';
import type { botLifecycle } from '../workflows/bot-lifecycle.js';
import {
  botWorkflowId,
  deleteUpdate,
  heartbeatReceivedSignal,
  restartUpdate,
  specChangedSignal,
  startUpdate,
  stateQuery,
  stopUpdate,
  type BotStateView,
  type CommandAnswer,
} from '../workflows/messages.js';
import { ApiError } from './views/problem.js';
import { refusalText } from './views/refusal.js';

export type BotCommand = 'start' | 'stop' | 'restart';
const updates = { start: startUpdate, stop: stopUpdate, restart: restartUpdate } as const;

const unavailable = (err: unknown) =>
  new ApiError(
    503,
    'temporal-unavailable',
    'Temporal unavailable',
    `The workflow service did not answer (${(err as Error).message}); nothing was changed. Retry when GET /health/ready reports temporal ok.`,
  );

/** The API's only way to change a bot's lifecycle: ask its workflow. */
export class BotWorkflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly answerTimeoutMs = 10_000,
    private readonly onOperation: (operation: string, result: 'accepted' | 'rejected' | 'failed') => void = () =>
      undefined,
  ) {}

  async create(bot: Pick<BotRow, 'id' | 'role' | 'status'>): Promise<void> {
    try {
      await this.client.workflow.start<typeof botLifecycle>('botLifecycle', {
        workflowId: botWorkflowId(bot.id),
        taskQueue: this.taskQueue,
        args: [
          {
            botId: bot.id,
            role: bot.role,
            state: initialState(bot.id, bot.role, bot.status === 'registered' ? 'registered' : 'stopped'),
          },
        ],
        // The registry row was just inserted, so a workflow still running under this id is an orphan of an earlier failure.
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.TERMINATE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: BotIdKey, value: bot.id },
          { key: BotStatusKey, value: bot.status },
          { key: BotRoleKey, value: bot.role },
        ]),
      });
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Runs start/stop/restart; a rejection becomes 409 with the workflow's reason. */
  async command(bot: BotRow, action: BotCommand | 'delete'): Promise<CommandAnswer> {
    try {
      const answer = await this.send(bot, action);
      this.onOperation(action, 'accepted');
      return answer;
    } catch (err) {
      this.onOperation(action, err instanceof ApiError && err.status === 409 ? 'rejected' : 'failed');
      throw err;
    }
  }

  private async send(bot: BotRow, action: BotCommand | 'delete'): Promise<CommandAnswer> {
    const update = action === 'delete' ? deleteUpdate : updates[action];
    // An update needs a worker to answer; without one it would wait forever.
    const run = () =>
      this.client.withDeadline(Date.now() + this.answerTimeoutMs, () =>
        this.client.workflow.getHandle(botWorkflowId(bot.id)).executeUpdate(update),
      );
    try {
      return await run();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // The workflow is gone (e.g. Temporal's store was reset): rebuild it from the registry, then ask again.
        await this.create({ ...bot, status: bot.status === 'registered' ? 'registered' : 'stopped' });
        try {
          return await run();
        } catch (retryErr) {
          throw this.mapError(retryErr, bot.id);
        }
      }
      throw this.mapError(err, bot.id);
    }
  }

  /** Deletes: the workflow must agree (bot not running), then ends. */
  async finish(bot: BotRow): Promise<void> {
    try {
      await this.command(bot, 'delete');
      await this.client.workflow.getHandle(botWorkflowId(bot.id)).result();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
  }

  async state(botId: string): Promise<BotStateView | null> {
    try {
      return await this.client.workflow.getHandle(botWorkflowId(botId)).query(stateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw unavailable(err);
    }
  }

  /** The first heartbeat of an instance: a bot with heartbeat_interval_seconds is running from then on. */
  async heartbeatArrived(botId: string, instanceId: string): Promise<void> {
    await signalBot(this.client, botId, heartbeatReceivedSignal, { instanceId }).catch((err: unknown) => {
      throw unavailable(err);
    });
  }

  async roleChanged(botId: string, role: string): Promise<void> {
    await signalBot(this.client, botId, specChangedSignal, { role }).catch((err: unknown) => {
      throw unavailable(err);
    });
  }

  /** A deployment's own workflow (deployment-<id>): it drives the bot's lifecycle through the phases. */
  async startDeployment(input: DeploymentInput): Promise<void> {
    try {
      await this.client.workflow.start<typeof botDeployment>('botDeployment', {
        workflowId: deploymentWorkflowId(input.deploymentId),
        taskQueue: this.taskQueue,
        args: [input],
        // The id is new: a second start (a retried request) finds the first and changes nothing.
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: BotIdKey, value: input.botId },
          { key: DeploymentPhaseKey, value: 'pending' },
        ]),
      });
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Cancels a deployment's gate; false when its workflow has already ended (or is gone). */
  async cancelDeployment(deploymentId: string, by: string): Promise<boolean> {
    try {
      await this.client.withDeadline(Date.now() + this.answerTimeoutMs, () =>
        this.client.workflow
          .getHandle(deploymentWorkflowId(deploymentId))
          .executeUpdate(cancelDeploymentUpdate, { args: [{ by }] }),
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateFailedError) return false;
      throw this.mapError(err, deploymentId);
    }
  }

  /** Tells a deployment a newer one took over (recorded already): it ends without touching the bot again. */
  async supersedeDeployment(deploymentId: string, by: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(deploymentWorkflowId(deploymentId)).signal(supersededSignal, { by });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw unavailable(err);
    }
  }

  /** Workers that polled the task queue for workflow tasks lately (Temporal keeps the last few minutes). */
  async workerPollers(): Promise<Array<{ identity: string; last_access_at: string | null }>> {
    const answer = await this.client.workflowService.describeTaskQueue({
      namespace: this.client.options.namespace,
      taskQueue: { name: this.taskQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (answer.pollers ?? []).map((p) => ({
      identity: p.identity ?? '',
      last_access_at: p.lastAccessTime?.seconds
        ? new Date(
            Number(p.lastAccessTime.seconds) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6),
          ).toISOString()
        : null,
    }));
  }

  private mapError(err: unknown, botId: string): ApiError {
    if (err instanceof ApiError) return err;
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
      const words = refusalText(cause?.type ?? undefined, cause?.details?.[0], botId);
      return new ApiError(409, 'conflict', 'Conflict', words ?? err.cause?.message ?? err.message);
    }
    if (isGrpcDeadlineError(err) || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      return new ApiError(
        503,
        'no-worker',
        'No worker answered',
        `No worker answered within ${this.answerTimeoutMs / 1000} s, so the command may not have been applied. Check that a worker runs on task queue ${this.taskQueue} (npm start, or npm run worker), then check the bot's status and retry.`,
      );
    }
    return unavailable(err);
  }
}
