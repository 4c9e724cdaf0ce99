import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';

/** Shared shape of every entry point: config, logger, run, exit 1 on failure with a readable reason. */
export function runMain(name: string, body: (config: Config, logger: Logger) => Promise<void>): void {
  let logger: Logger | undefined;
  const main = async () => {
    // A .env in the working directory fills in what the environment does not already set.
    if (existsSync('.env')) process.loadEnvFile('.env');
    const config = loadConfig();
    logger = createLogger(config, name);
    await body(config, logger);
  };
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (logger) logger.fatal({ err }, `${name} failed: ${(err as Error).message}`);
    else console.error(err);
    process.exit(1);
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
