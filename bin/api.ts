import { runMain, untilSignal } from './main.js';
import { separateProcessPrerequisites } from './separate-process.js';
import { startPlatform } from './platform.js';

/** The HTTP API alone; scale out with several behind a load balancer. */
runMain('codex32-api', async (config, logger) => {
  const temporalAddress = separateProcessPrerequisites(config, 'api');
  const platform = await startPlatform({ config, logger, temporalAddress, api: true, worker: false });
  try {
    logger.info({ url: platform.apiUrl }, 'API listening');
    await untilSignal();
  } finally {
    await platform.close();
  }
});
