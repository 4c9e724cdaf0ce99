import { runMain, untilSignal } from './main.js';
import { separateProcessPrerequisites } from './separate-process.js';
import { startPlatform } from './platform.js';

/** The worker alone: runs bot workflows and activities; scale out with several. */
runMain('codex32-worker', async (config, logger) => {
  const temporalAddress = separateProcessPrerequisites(config, 'worker');
  const platform = await startPlatform({ config, logger, temporalAddress, api: false, worker: true });
  try {
    logger.info({ temporalAddress, taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
    await Promise.race([untilSignal(), platform.workerDone]);
  } finally {
    await platform.close();
  }
});
