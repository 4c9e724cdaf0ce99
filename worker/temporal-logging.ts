import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { Logger } from '../lib/logger.js';

let installed = false;

/**
 * Sends the Temporal SDK's own logs through our pino logger (structured, one
 * stream). The SDK runtime is process-wide and can be installed only once.
 */
export function installTemporalLogging(logger: Logger): void {
  if (installed) return;
  installed = true;
  const sdk = logger.child({ source: 'temporal-sdk' });
  const level = (
    logger.level === 'trace'
      ? 'TRACE'
      : logger.level === 'debug'
        ? 'DEBUG'
        : logger.level === 'info'
          ? 'INFO'
          : logger.level === 'warn'
            ? 'WARN'
            : 'ERROR'
  ) as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      const meta = entry.meta ?? {};
      switch (entry.level) {
        case 'ERROR':
          return sdk.error(meta, entry.message);
        case 'WARN':
          return sdk.warn(meta, entry.message);
        case 'INFO':
          return sdk.info(meta, entry.message);
        default:
          return sdk.debug(meta, entry.message);
      }
    }),
  });
}
