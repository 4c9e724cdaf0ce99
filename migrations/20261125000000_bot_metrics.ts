import type { Kysely } from 'kysely';

// Frozen in time: per-minute rollups of bot samples (CPU, memory), kept BOT_METRICS_RETENTION_DAYS.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bot_metrics_minute')
    .addColumn('bot_id', 'text', (c) => c.notNull().references('bots.id').onDelete('cascade'))
    .addColumn('minute', 'timestamptz', (c) => c.notNull())
    .addColumn('samples', 'integer', (c) => c.notNull())
    .addColumn('cpu_avg', 'double precision', (c) => c.notNull())
    .addColumn('cpu_max', 'double precision', (c) => c.notNull())
    .addColumn('memory_avg_mb', 'double precision', (c) => c.notNull())
    .addColumn('memory_max_mb', 'double precision', (c) => c.notNull())
    .addColumn('uptime_seconds', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('bot_metrics_minute_pk', ['bot_id', 'minute'])
    .execute();
  await db.schema.createIndex('bot_metrics_minute_minute_idx').on('bot_metrics_minute').column('minute').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('bot_metrics_minute').execute();
}
