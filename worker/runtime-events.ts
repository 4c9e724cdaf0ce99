import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { BotRuntime, RuntimeEvent } from '../activities/runtime/types.js';
import type { Logger } from '../lib/logger.js';
import { botWorkflowId, instanceExitedSignal, type InstanceExited } from '../workflows/messages.js';

export type ExitNotifier = (botId: string, exit: InstanceExited) => Promise<void>;

/**
 * Delivers an instance's exit to its bot's workflow, retrying while Temporal is
 * unreachable. Signals are idempotent for the workflow (it ignores exits of
 * instances that are not current), so a duplicate is harmless.
 */
export function createExitNotifier(client: Client, logger: Logger, isClosed: () => boolean): ExitNotifier {
  return async (botId, exit) => {
    for (let attempt = 0; !isClosed(); attempt++) {
      try {
        await client.workflow.getHandle(botWorkflowId(botId)).signal(instanceExitedSignal, exit);
        return;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          logger.warn({ botId, instanceId: exit.instanceId }, 'exit of a bot without a lifecycle workflow; nothing to heal');
          return;
        }
        if (attempt === 0) logger.warn({ err, botId }, 'could not signal the bot workflow; retrying');
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  };
}

export function forwardRuntimeEvents(runtime: BotRuntime, notify: ExitNotifier): () => void {
  return runtime.onEvent((event: RuntimeEvent) => {
    if (event.type !== 'exited') return;
    const { botId, instanceId, exitCode, signal, reason, at } = event;
    void notify(botId, { instanceId, exitCode, signal, reason, at });
  });
}
