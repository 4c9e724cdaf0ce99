import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { openRegistry, type Registry } from '../registry/connect.js';
import { migrate } from '../registry/migrate.js';
import { createTestDatabase, type Engine } from './helpers/platform.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const fn of cleanups) await fn();
});

async function open(engine: Engine): Promise<Registry> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-migrate-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { DATA_DIR: dataDir };
  if (engine === 'postgres') {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    env.DATABASE_URL = db.url;
  }
  const registry = await openRegistry(loadConfig(env));
  cleanups.unshift(() => registry.close());
  return registry;
}

const ALL_TABLES = [
  'api_keys',
  'audit_log',
  'bot_heartbeats',
  'bot_metrics_minute',
  'bots',
  'deployments',
  'incidents',
  'instances',
  'refresh_tokens',
  'users',
];

/** With the revisions and artifacts of gated deployments (the latest migration). */
const LATEST_TABLES = [...ALL_TABLES, 'artifacts', 'bot_revisions'].sort();

async function tables(registry: Registry): Promise<string[]> {
  const { rows } = await sql<{
    table_name: string;
  }>`select table_name from information_schema.tables where table_schema = 'public' and table_name not like 'codex32_migrations%' order by table_name`.execute(
    registry.db,
  );
  return rows.map((r) => r.table_name);
}

describe.each<Engine>(['postgres', 'pglite'])('migrations on %s', (engine) => {
  it('go up, down and up again, and the schema works after each', async () => {
    const registry = await open(engine);
    const up = await migrate(registry.db, 'latest');
    expect(up.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261121000000_core', 'Up', 'Success'],
      ['20261122000000_auth', 'Up', 'Success'],
      ['20261123000000_deployments', 'Up', 'Success'],
      ['20261124000000_incident_handling', 'Up', 'Success'],
      ['20261125000000_bot_metrics', 'Up', 'Success'],
      ['20261126000000_heartbeats', 'Up', 'Success'],
      ['20261127000000_health_rules', 'Up', 'Success'],
      ['20261203000000_user_ids', 'Up', 'Success'],
      ['20261204000000_revisions_and_gated_deployments', 'Up', 'Success'],
    ]);
    expect(await tables(registry)).toEqual(LATEST_TABLES);
    expect((await migrate(registry.db, 'latest')).results).toEqual([]);

    await registry.db
      .insertInto('bots')
      .values({
        id: 'mig-bot',
        name: 'm',
        description: '',
        role: 'r',
        blueprint: 'x.sh',
        image: null,
        args: '[]',
        env: '{}',
        resources: '{}',
        heal_policy: '{}',
        heartbeat_interval_seconds: null,
        status: 'registered',
        desired_state: 'stopped',
        status_reason: null,
        current_instance_id: null,
      })
      .execute();
    // The schema itself refuses a bot with both sources.
    await expect(
      registry.db
        .insertInto('bots')
        .values({
          id: 'mig-two',
          name: 'm',
          description: '',
          role: 'r',
          blueprint: 'x.sh',
          image: 'a/b:1',
          args: '[]',
          env: '{}',
          resources: '{}',
          heal_policy: '{}',
          heartbeat_interval_seconds: null,
          status: 'registered',
          desired_state: 'stopped',
          status_reason: null,
          current_instance_id: null,
        })
        .execute(),
    ).rejects.toThrow(/bots_source_check/);

    // Every user has an immutable id of its own, also those who were there before the migration.
    const a = await registry.db
      .insertInto('users')
      .values({ username: 'mig-a', password_hash: 'x', role: 'user' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const b = await registry.db
      .insertInto('users')
      .values({ username: 'mig-b', password_hash: 'x', role: 'user' })
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.id).not.toBe(a.id);
    await expect(
      registry.db.updateTable('users').set({ id: a.id }).where('username', '=', 'mig-b').execute(),
    ).rejects.toThrow(/users_id_idx/);
    // A bot that was there before revisions gets its spec as revision 1.
    const downRevisions = await migrate(registry.db, 'down');
    expect(downRevisions.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261204000000_revisions_and_gated_deployments', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).toEqual(ALL_TABLES);
    await migrate(registry.db, 'up');
    const revisions = await registry.db
      .selectFrom('bot_revisions')
      .selectAll()
      .where('bot_id', '=', 'mig-bot')
      .execute();
    expect(revisions.map((r) => [r.revision, r.source, r.spec.blueprint])).toEqual([[1, 'create', 'x.sh']]);
    const migrated = await registry.db
      .selectFrom('bots')
      .select('revision')
      .where('id', '=', 'mig-bot')
      .executeTakeFirstOrThrow();
    expect(migrated.revision).toBe(1);
    await migrate(registry.db, 'down');
    const downUserIds = await migrate(registry.db, 'down');
    expect(downUserIds.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261203000000_user_ids', 'Down', 'Success'],
    ]);
    const userIdColumn = sql<{
      column_name: string;
    }>`select column_name from information_schema.columns where table_name = 'users' and column_name = 'id'`;
    expect((await userIdColumn.execute(registry.db)).rows).toEqual([]);
    await migrate(registry.db, 'up');
    const ids = await registry.db.selectFrom('users').select(['username', 'id']).orderBy('username').execute();
    expect(ids.map((u) => u.username)).toEqual(['mig-a', 'mig-b']);
    expect(new Set(ids.map((u) => u.id)).size).toBe(2);
    await migrate(registry.db, 'down');

    const healthColumns = sql<{
      column_name: string;
    }>`select column_name from information_schema.columns where (table_name = 'bots' and column_name = 'health_rules') or (table_name = 'bot_metrics_minute' and column_name like 'error_%') order by column_name`;
    expect((await healthColumns.execute(registry.db)).rows.map((r) => r.column_name)).toEqual([
      'error_rate_avg',
      'error_rate_max',
      'error_samples',
      'health_rules',
    ]);
    expect(
      (
        await registry.db
          .selectFrom('bots')
          .select('health_rules')
          .where('id', '=', 'mig-bot')
          .executeTakeFirstOrThrow()
      ).health_rules,
    ).toEqual({});
    const downHealthRules = await migrate(registry.db, 'down');
    expect(downHealthRules.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261127000000_health_rules', 'Down', 'Success'],
    ]);
    expect((await healthColumns.execute(registry.db)).rows).toEqual([]);
    const downHeartbeats = await migrate(registry.db, 'down');
    expect(downHeartbeats.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261126000000_heartbeats', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).not.toContain('bot_heartbeats');
    const downMetrics = await migrate(registry.db, 'down');
    expect(downMetrics.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261125000000_bot_metrics', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).not.toContain('bot_metrics_minute');
    expect(await tables(registry)).not.toContain('bot_heartbeats');
    const downIncidentHandling = await migrate(registry.db, 'down');
    expect(downIncidentHandling.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261124000000_incident_handling', 'Down', 'Success'],
    ]);
    const { rows: columns } = await sql<{
      column_name: string;
    }>`select column_name from information_schema.columns where table_name = 'incidents' and column_name = 'acknowledged_at'`.execute(
      registry.db,
    );
    expect(columns).toEqual([]);
    const downDeployments = await migrate(registry.db, 'down');
    expect(downDeployments.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261123000000_deployments', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).toEqual(
      ALL_TABLES.filter((t) => t !== 'deployments' && t !== 'bot_metrics_minute' && t !== 'bot_heartbeats'),
    );
    const down = await migrate(registry.db, 'down');
    expect(down.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261122000000_auth', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).toEqual(['bots', 'incidents', 'instances']);
    const downAgain = await migrate(registry.db, 'down');
    expect(downAgain.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([
      ['20261121000000_core', 'Down', 'Success'],
    ]);
    expect(await tables(registry)).toEqual([]);

    await migrate(registry.db, 'latest');
    expect(await tables(registry)).toEqual(LATEST_TABLES);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from bots`.execute(registry.db);
    expect(rows[0]!.n).toBe(0);
  });
});
