import path from 'node:path';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { tailLines } from './log-files.js';
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

/** A bot's recent output for the API (local bots write it into BOT_LOGS_DIR on this machine). */
export function createLogReader(config: Config): (botId: string, lines: number) => Promise<string[]> {
  if (config.BOT_RUNTIME === 'kubernetes') return async () => [];
  return (botId, lines) => tailLines(path.join(config.paths.botLogsDir, `${botId}.log`), lines, 4 * 1024 * 1024);
}
