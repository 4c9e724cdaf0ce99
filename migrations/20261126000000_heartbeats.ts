import { sql, type Kysely } from 'kysely';

// Frozen in time: the last heartbeat of each bot (the instance that sent it, counters, gauges).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bot_heartbeats')
    .addColumn('bot_id', 'text', (c) => c.primaryKey().references('bots.id').onDelete('cascade'))
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('first_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_at', 'timestamptz', (c) => c.notNull())
    .addColumn('beats', 'integer', (c) => c.notNull())
    .addColumn('requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('errors', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error_rate', 'double precision')
    .addColumn('gauges', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('bot_heartbeats').execute();
}
