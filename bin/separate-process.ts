import type { Config } from '../lib/config.js';

/**
 * The embedded PGlite lives inside one process, so the API and the worker can
 * only share it under `npm start`. Run separately, they need a real PostgreSQL.
 */
export function separateProcessPrerequisites(config: Config, role: 'api' | 'worker'): string {
  if (!config.DATABASE_URL) {
    throw new Error(
      `npm run ${role} runs one role of the platform and needs a shared database: set DATABASE_URL to a PostgreSQL URL. ` +
        'For everything in one process on the embedded database, use npm start.',
    );
  }
  return config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
}
