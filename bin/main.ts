import { chmodSync, existsSync, statSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { makeUndumpable } from '../lib/process-hardening.js';

/** Shared shape of every entry point: config, logger, run, exit 1 on failure with a readable reason. */
export function runMain(name: string, body: (config: Config, logger: Logger) => Promise<void>): void {
  let logger: Logger | undefined;
  const main = async () => {
    // A .env in the working directory fills in what the environment does not already set.
    if (existsSync('.env')) process.loadEnvFile('.env');
    const config = loadConfig();
    logger = createLogger(config, name);
    protectSecrets(logger);
    await body(config, logger);
  };
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (logger) logger.fatal({ err }, `${name} failed: ${(err as Error).message}`);
    else console.error(err);
    process.exit(1);
  });
}

/**
 * This process holds the signing key, the admin key and database
 * credentials, and bots run beside it: none of them may read its memory or
 * its .env file.
 */
function protectSecrets(logger: Logger): void {
  const why = makeUndumpable();
  if (why)
    logger.warn(
      { reason: why },
      'could not mark the process undumpable: processes of the same user can read its environment',
    );
  if (existsSync('.env')) {
    const st = statSync('.env');
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) {
      chmodSync('.env', 0o600);
      logger.warn(
        { file: '.env', was: (st.mode & 0o777).toString(8) },
        '.env holds secrets and others could read it: made it 0600',
      );
    }
  }
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
