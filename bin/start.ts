import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { listeningPorts } from '../runtime/proc.js';
import { startDevServer, type DevServer } from './temporal-dev-server.js';
import { runMain, untilSignal } from './main.js';
import { startPlatform } from './platform.js';

/**
 * Everything on one machine: the Temporal dev server (unless TEMPORAL_ADDRESS
 * names a cluster), migrations, the worker and the API in this process.
 * Bots keep running when this process stops; the next start re-adopts them.
 */
runMain('codex32', async (config, logger) => {
  let dev: DevServer | undefined;
  try {
    if (!config.TEMPORAL_ADDRESS) {
      dev = await startDevServer({
        dataDir: config.paths.dataDir,
        logsDir: config.paths.logsDir,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        env: config.botBaseEnv,
        logger,
      });
    }
    initEmbeddedDatabase(config, logger);
    const temporalAddress = config.TEMPORAL_ADDRESS ?? dev!.address;
    const devServerPorts = dev ? await listeningPorts(dev.pid) : undefined;
    const platform = await startPlatform({ config, logger, temporalAddress, api: true, worker: true, devServerPorts });
    try {
      const ui = dev?.uiUrl ?? "(your cluster's Temporal UI)";
      logger.info(
        {
          api: platform.apiUrl,
          console: `${platform.apiUrl}/`,
          docs: `${platform.apiUrl}/docs`,
          redoc: `${platform.apiUrl}/redoc`,
          temporalUi: ui,
          database: platform.registry.engine,
        },
        'Codex-32 is up',
      );
      process.stdout.write(
        `\nCodex-32 is up\n  Console      ${platform.apiUrl}/\n  API          ${platform.apiUrl}/api/v1\n  API docs     ${platform.apiUrl}/docs  (ReDoc: ${platform.apiUrl}/redoc)\n  Health       ${platform.apiUrl}/health/ready\n  Temporal UI  ${ui}\n  Database     ${platform.registry.engine}\n\n`,
      );
      const outcome = await Promise.race([untilSignal(), platform.workerDone.then(() => 'worker stopped' as const)]);
      logger.info({ outcome }, 'shutting down (bots keep running)');
    } finally {
      await platform.close();
    }
  } finally {
    await dev?.stop();
  }
});

/**
 * Creating a PGlite database (initdb) grows the WASM heap to some 800 MiB,
 * and a WASM heap never shrinks. Done in a short-lived process instead, the
 * platform opens an existing database and stays around 300 MiB.
 */
function initEmbeddedDatabase(config: Config, logger: Logger): void {
  if (config.DATABASE_URL || existsSync(path.join(config.paths.dataDir, 'pglite', 'PG_VERSION'))) return;
  logger.info('creating the embedded database');
  const migrate = fileURLToPath(new URL('./migrate.js', import.meta.url));
  const result = spawnSync(process.execPath, [migrate, 'latest'], { stdio: 'inherit' });
  if (result.status !== 0)
    throw new Error(
      `creating the embedded database failed (exit ${result.status ?? result.signal}); see the messages above`,
    );
}
