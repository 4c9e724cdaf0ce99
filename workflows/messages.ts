import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BotStatus, DesiredState } from '../lib/bot-status.js';

/** Wire names are explicit and shared by the workflow and every client. */

export const BOT_TASK_QUEUE_DEFAULT = 'codex32-bots';

export function botWorkflowId(botId: string): string {
  return `bot-${botId}`;
}

export interface CommandAnswer {
  accepted: true;
  action: 'start' | 'stop' | 'restart' | 'delete';
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
}

export const startUpdate = defineUpdate<CommandAnswer>('start');
export const stopUpdate = defineUpdate<CommandAnswer>('stop');
export const restartUpdate = defineUpdate<CommandAnswer>('restart');
export const deleteUpdate = defineUpdate<CommandAnswer>('delete');
export const instanceExitedSignal = defineSignal<[InstanceExited]>('instanceExited');
export const healthViolatedSignal = defineSignal<[HealthViolation]>('healthViolated');
export const heartbeatReceivedSignal = defineSignal<[{ instanceId: string }]>('heartbeatReceived');
export const specChangedSignal = defineSignal<[{ role: string }]>('specChanged');
export const stateQuery = defineQuery<BotStateView>('state');
