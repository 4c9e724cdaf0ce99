import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { Logger } from './logger.js';
import { BOT_SEARCH_ATTRIBUTES } from './search-attributes.js';
import { botWorkflowId } from '../workflows/messages.js';

export async function connectTemporal(
  address: string,
  opts: { timeoutMs?: number; logger?: Logger } = {},
): Promise<Connection> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  let warned = false;
  while (Date.now() < deadline) {
    try {
      return await Connection.connect({ address, connectTimeout: 5_000 });
    } catch (err) {
      lastError = err;
      if (!warned) opts.logger?.info({ address }, 'waiting for the Temporal server');
      warned = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(
    `Temporal is not reachable at ${address} (${(lastError as Error)?.message}). Start it, or unset TEMPORAL_ADDRESS to let Codex-32 run its own dev server.`,
  );
}

export function createTemporalClient(connection: Connection, namespace: string): Client {
  return new Client({ connection, namespace });
}

/** The dev server registers these from its flags; a cluster gets them here, once. */
export async function ensureSearchAttributes(connection: Connection, namespace: string, logger: Logger): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = BOT_SEARCH_ATTRIBUTES.filter((name) => !known.has(name));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((name) => [name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  logger.info({ missing }, 'registered search attributes');
}

/**
 * Signals a bot's lifecycle workflow. False when the bot has none (deleted,
 * or never registered): a report about it has nobody to act on it. Any
 * other failure (Temporal unreachable) is thrown, for the caller to retry
 * or report.
 */
export async function signalBot<T>(
  client: Client,
  botId: string,
  signal: SignalDefinition<[T]>,
  payload: T,
): Promise<boolean> {
  try {
    await client.workflow.getHandle(botWorkflowId(botId)).signal(signal, payload);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
