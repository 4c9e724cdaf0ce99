import { runMain, untilSignal } from '../bin/main.js';
import { startPlatform } from '../bin/platform.js';

/**
 * An API process for the auth-overhead benchmark: `node dist/bench/api-host.js
 * enforced|off`. With `off`, routes run without authentication or permission
 * checks, which no setting of the platform can do; it exists so that the same
 * routes can be measured with and without auth in the same run.
 */
const mode = process.argv[2];
if (mode !== 'enforced' && mode !== 'off') {
  console.error('usage: node dist/bench/api-host.js enforced|off');
  process.exit(2);
}
runMain(`codex32-bench-api-${mode}`, async (config, logger) => {
  if (!config.TEMPORAL_ADDRESS) throw new Error('the benchmark API host needs TEMPORAL_ADDRESS');
  const platform = await startPlatform({
    config,
    logger,
    temporalAddress: config.TEMPORAL_ADDRESS,
    api: true,
    worker: false,
    accessControl: mode,
  });
  try {
    await untilSignal();
  } finally {
    await platform.close();
  }
});
