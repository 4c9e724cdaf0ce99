import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import * as core from '../migrations/20261121000000_core.js';
import * as auth from '../migrations/20261122000000_auth.js';
import * as deployments from '../migrations/20261123000000_deployments.js';
import * as incidentHandling from '../migrations/20261124000000_incident_handling.js';
import * as botMetrics from '../migrations/20261125000000_bot_metrics.js';
import * as heartbeats from '../migrations/20261126000000_heartbeats.js';
import * as healthRules from '../migrations/20261127000000_health_rules.js';
import * as userIds from '../migrations/20261203000000_user_ids.js';
import * as revisions from '../migrations/20261204000000_revisions_and_gated_deployments.js';

/** Migrations are compiled into the build, so they run the same from source, dist and a container. */
const migrations: Record<string, Migration> = {
  '20261121000000_core': core,
  '20261122000000_auth': auth,
  '20261123000000_deployments': deployments,
  '20261124000000_incident_handling': incidentHandling,
  '20261125000000_bot_metrics': botMetrics,
  '20261126000000_heartbeats': heartbeats,
  '20261127000000_health_rules': healthRules,
  '20261203000000_user_ids': userIds,
  '20261204000000_revisions_and_gated_deployments': revisions,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: new StaticProvider(),
    migrationTableName: 'codex32_migrations',
    migrationLockTableName: 'codex32_migrations_lock',
  });
}

export async function migrate(
  db: Kysely<any>,
  direction: 'latest' | 'down' | 'up' = 'latest',
): Promise<MigrationResultSet> {
  const migrator = createMigrator(db);
  const result =
    direction === 'latest'
      ? await migrator.migrateToLatest()
      : direction === 'down'
        ? await migrator.migrateDown()
        : await migrator.migrateUp();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(
      `Migration ${failed?.migrationName ?? ''} failed (${direction}): ${String((result.error as Error).message ?? result.error)}`,
    );
  }
  return result;
}
