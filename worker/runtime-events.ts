import type { Client } from '@temporalio/client';
import type { BotRuntime, RuntimeEvent } from '../runtime/types.js';
import type { Logger } from '../lib/logger.js';
import type { SignalDefinition } from '@temporalio/common';
import { signalBot } from '../lib/temporal.js';
import {
  healthConditionSignal,
  healthViolatedSignal,
  instanceExitedSignal,
  type InstanceExited,
} from '../workflows/messages.js';
import type { HealthNotifiers } from '../monitoring/health-rules.js';

export type ExitNotifier = (botId: string, exit: InstanceExited) => Promise<void>;

/**
 * Delivers a signal to a bot's workflow, retrying while Temporal is
 * unreachable. The workflow ignores reports about instances that are not
 * current, so a duplicate is harmless.
 */
function createNotifier<T>(signal: SignalDefinition<[T]>, client: Client, logger: Logger, isClosed: () => boolean) {
  return async (botId: string, payload: T & { instanceId: string }): Promise<void> => {
    for (let attempt = 0; !isClosed(); attempt++) {
      try {
        if (!(await signalBot(client, botId, signal, payload))) {
          logger.warn(
            { botId, instanceId: payload.instanceId, signal: signal.name },
            'a report about a bot without a lifecycle workflow; nothing to heal',
          );
        }
        return;
      } catch (err) {
        if (attempt === 0) logger.warn({ err, botId }, 'could not signal the bot workflow; retrying');
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  };
}

export function createExitNotifier(client: Client, logger: Logger, isClosed: () => boolean): ExitNotifier {
  return createNotifier(instanceExitedSignal, client, logger, isClosed);
}

export function createHealthNotifiers(client: Client, logger: Logger, isClosed: () => boolean): HealthNotifiers {
  return {
    violation: createNotifier(healthViolatedSignal, client, logger, isClosed),
    condition: createNotifier(healthConditionSignal, client, logger, isClosed),
  };
}

export function forwardRuntimeEvents(runtime: BotRuntime, notify: ExitNotifier): () => void {
  return runtime.onEvent((event: RuntimeEvent) => {
    if (event.type !== 'exited') return;
    const { botId, instanceId, exitCode, signal, reason, at, kind, evidence } = event;
    void notify(botId, {
      instanceId,
      exitCode,
      signal,
      reason,
      at,
      ...(kind ? { kind } : {}),
      ...(evidence ? { evidence } : {}),
    });
  });
}
