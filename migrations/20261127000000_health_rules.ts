import { sql, type Kysely } from 'kysely';

// Frozen in time: per-bot thresholds of the degrading health rules, and the error rate in the per-minute rollups.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('bots')
    .addColumn('health_rules', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema
    .alterTable('bot_metrics_minute')
    .addColumn('error_samples', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_rate_avg', 'double precision')
    .addColumn('error_rate_max', 'double precision')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('bot_metrics_minute')
    .dropColumn('error_samples')
    .dropColumn('error_rate_avg')
    .dropColumn('error_rate_max')
    .execute();
  await db.schema.alterTable('bots').dropColumn('health_rules').execute();
}
