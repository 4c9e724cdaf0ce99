import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BotStatus, DesiredState } from '../lib/bot-status.js';

/** Wire names are explicit and shared by the workflow and every client. */

export const BOT_TASK_QUEUE_DEFAULT = 'codex32-bots';

export function botWorkflowId(botId: string): string {
  return `bot-${botId}`;
}

export interface CommandAnswer {
  accepted: true;
  action: 'start' | 'stop' | 'restart' | 'delete' | 'deploy';
  bot_id: string;
  status: BotStatus;
  desired_state: DesiredState;
  message: string;
}

export interface InstanceExited {
  instanceId: string;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  at: string;
  /** The incident kind when it is not a plain exit (Kubernetes: oom_killed, evicted, pod_deleted, pod_failed). */
  kind?: string;
  /** What the runtime saw (Kubernetes: the pod, its node, its reason). */
  evidence?: Record<string, unknown>;
}

/** A health rule saw an instance cross a limit; the workflow heals it as if it had exited. */
export interface HealthViolation {
  instanceId: string;
  /** The incident kind: memory_limit, heartbeat_lost, ... */
  rule: string;
  /** In words for an operator, e.g. "uses 312 MB, over its memory_limit_mb of 256". */
  reason: string;
  /** The figures that crossed the limit. */
  evidence: Record<string, unknown>;
  at: string;
}

/**
 * A degrading rule (error_rate, cpu_pegged) started or stopped holding for an
 * instance: while one holds the bot keeps running but counts as degraded.
 */
export interface HealthCondition {
  instanceId: string;
  /** The incident kind: error_rate, cpu_pegged. */
  rule: string;
  active: boolean;
  /** In words for an operator: why it degraded, or how it recovered. */
  reason: string;
  evidence: Record<string, unknown>;
  at: string;
}

export interface BotStateView {
  botId: string;
  role: string;
  status: BotStatus;
  desiredState: DesiredState;
  statusReason: string | null;
  restartCount: number;
  instance: { id: string; pid: number | null; startedAt: string } | null;
  healRestartsInWindow: number;
  nextRestartAt: string | null;
  /** Degrading rules that hold for the running instance, with why and since when. */
  conditions: Array<{ rule: string; reason: string; since: string }>;
  /** The `seq` of the bot's latest fleet event (status change or incident); 0 before the first. */
  eventSeq: number;
}

/**
 * Why a bot's workflow refuses a command: the type of the ApplicationFailure
 * its update validator throws, with the bot's status in its details. The
 * workflow says what; the API words it, with what to do instead.
 */
export const REFUSALS = [
  'being_deleted',
  'already_running',
  'never_started',
  'already_stopped',
  'not_running',
  'still_stopping',
  'stop_first',
] as const;
export type Refusal = (typeof REFUSALS)[number];
export interface RefusalDetails {
  status: BotStatus;
}

/**
 * A deployment asks the bot to run the revision it just applied: started, or
 * restarted when it runs, while the lifecycle reports what happens to the new
 * instance to the deployment's workflow (until it releases the bot).
 * `token` names this request: a retried one is answered without a second restart.
 */
export interface DeployRequest {
  deploymentWorkflowId: string;
  token: string;
  startIfStopped: boolean;
}

/**
 * What the lifecycle tells a deployment about the instance it launched for
 * it: each status, and how it ended; `token` names the deploy request it
 * answers (a rollback's reports are not the failed revision's).
 */
export type BotObservation = {
  token: string;
  /** When the lifecycle saw it (ms): the gate counts time up from here, not from when the report arrived. */
  at: number;
} & (
  | {
      kind: 'status';
      instanceId: string | null;
      status: BotStatus;
      desired: DesiredState;
      reason: string | null;
    }
  | {
      kind: 'ended';
      instanceId: string;
      /** The incident kind: process_exited, heartbeat_lost, memory_limit, ... */
      rule: string;
      reason: string;
      exitCode: number | null;
      signal: string | null;
    }
);

export const startUpdate = defineUpdate<CommandAnswer>('start');
export const stopUpdate = defineUpdate<CommandAnswer>('stop');
export const restartUpdate = defineUpdate<CommandAnswer>('restart');
export const deleteUpdate = defineUpdate<CommandAnswer>('delete');
export const deployUpdate = defineUpdate<CommandAnswer, [DeployRequest]>('deploy');
/** The deployment ended: the lifecycle stops reporting to it. */
export const deploymentReleasedSignal = defineSignal<[{ deploymentWorkflowId: string }]>('deploymentReleased');
export const instanceExitedSignal = defineSignal<[InstanceExited]>('instanceExited');
export const healthViolatedSignal = defineSignal<[HealthViolation]>('healthViolated');
export const healthConditionSignal = defineSignal<[HealthCondition]>('healthCondition');
export const heartbeatReceivedSignal = defineSignal<[{ instanceId: string }]>('heartbeatReceived');
export const specChangedSignal = defineSignal<[{ role: string }]>('specChanged');
export const stateQuery = defineQuery<BotStateView>('state');
