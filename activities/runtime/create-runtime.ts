import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { readInstanceStats } from './proc.js';
import { LocalRuntime } from './local-runtime.js';
import type { BotRuntime, InstanceRef, InstanceStats } from './types.js';

export function createRuntime(config: Config, logger: Logger, apiUrl: string): BotRuntime {
  if (config.BOT_RUNTIME === 'kubernetes') {
    throw new Error('BOT_RUNTIME=kubernetes is not available in this version yet; use BOT_RUNTIME=local (the default).');
  }
  return new LocalRuntime({
    botsDir: config.paths.botsDir,
    runDir: config.paths.runDir,
    botLogsDir: config.paths.botLogsDir,
    logMaxBytes: config.BOT_LOG_MAX_MB * 1024 * 1024,
    logFiles: config.BOT_LOG_FILES,
    baseEnv: config.botBaseEnv,
    platformEnv: { CODEX32_API_URL: apiUrl },
    logger: logger.child({ component: 'local-runtime' }),
  });
}

/** Figures for the API, which may run in another process than the runtime that launched the bot. */
export function createStatsReader(config: Config): (ref: InstanceRef) => Promise<InstanceStats | null> {
  if (config.BOT_RUNTIME === 'kubernetes') return async () => null;
  return (ref) => readInstanceStats(ref.pid, ref.processStartTicks);
}
