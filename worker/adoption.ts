import type { Kysely } from 'kysely';
import type { BotRuntime } from '../runtime/types.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import { listOpenInstances } from '../registry/instances.js';
import type { ExitNotifier } from './runtime-events.js';

export interface AdoptionReport {
  adopted: number;
  gone: number;
}

/**
 * Every instance the registry believes is running is either taken back under
 * watch (same pid, same start time: untouched) or reported to its workflow as
 * ended, so the workflow heals it. Run at worker start, and then slowly as a
 * safety net for any exit event that was lost.
 */
export async function reconcileInstances(
  db: Kysely<Database>,
  runtime: BotRuntime,
  notify: ExitNotifier,
  logger: Logger,
): Promise<AdoptionReport> {
  const open = await listOpenInstances(db, runtime.kind);
  const report: AdoptionReport = { adopted: 0, gone: 0 };
  for (const row of open) {
    if (runtime.isWatching(row.id)) continue;
    const ref = { botId: row.bot_id, instanceId: row.id, pid: row.pid, processStartTicks: row.process_start_ticks };
    if (await runtime.adopt(ref)) {
      report.adopted++;
      continue;
    }
    report.gone++;
    logger.warn(
      { botId: row.bot_id, instanceId: row.id, botPid: row.pid },
      'bot process ended while nobody watched it',
    );
    void notify(row.bot_id, {
      instanceId: row.id,
      exitCode: null,
      signal: null,
      reason: 'ended while the control plane was down',
      at: new Date().toISOString(),
    });
  }
  return report;
}
