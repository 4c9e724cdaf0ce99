import { openRegistry } from '../registry/connect.js';
import { migrate } from '../registry/migrate.js';
import { runMain } from './main.js';

const directions = ['latest', 'up', 'down'] as const;

/** npm run migrate -- latest|up|down */
runMain('codex32-migrate', async (config, logger) => {
  const direction = process.argv[2] ?? 'latest';
  if (!(directions as readonly string[]).includes(direction)) {
    throw new Error(
      `unknown migration direction "${direction}": use one of ${directions.join(', ')} (npm run migrate -- latest)`,
    );
  }
  const registry = await openRegistry(config);
  try {
    const result = await migrate(registry.db, direction as (typeof directions)[number]);
    const applied = result.results ?? [];
    if (applied.length === 0) logger.info({ engine: registry.engine }, 'nothing to migrate');
    for (const r of applied)
      logger.info(
        { engine: registry.engine, migration: r.migrationName, direction: r.direction, status: r.status },
        'migration',
      );
  } finally {
    await registry.close();
  }
});
