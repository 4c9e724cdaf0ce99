import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration must keep describing the schema as it was when written.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('blueprint', 'text')
    .addColumn('image', 'text')
    .addColumn('args', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('env', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('resources', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('heal_policy', 'jsonb', (c) => c.notNull())
    .addColumn('heartbeat_interval_seconds', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('desired_state', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('restart_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('current_instance_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('bots_source_check', sql`(blueprint is null) <> (image is null)`)
    .execute();
  await db.schema.createIndex('bots_status_idx').on('bots').column('status').execute();
  await db.schema.createIndex('bots_created_at_idx').on('bots').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('bot_id', 'text', (c) => c.notNull().references('bots.id').onDelete('cascade'))
    .addColumn('runtime', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer')
    .addColumn('process_start_ticks', 'text')
    .addColumn('log_path', 'text')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('ended_at', 'timestamptz')
    .addColumn('exit_code', 'integer')
    .addColumn('exit_signal', 'text')
    .addColumn('end_reason', 'text')
    .execute();
  await db.schema.createIndex('instances_bot_id_idx').on('instances').columns(['bot_id', 'started_at']).execute();
  await db.schema
    .createIndex('instances_open_idx')
    .on('instances')
    .column('runtime')
    .where(sql.ref('ended_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('incidents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('bot_id', 'text', (c) => c.notNull().references('bots.id').onDelete('cascade'))
    .addColumn('instance_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('evidence', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('outcome', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('resolved_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('incidents_bot_id_idx').on('incidents').columns(['bot_id', 'created_at']).execute();
  await db.schema.createIndex('incidents_created_at_idx').on('incidents').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('incidents').execute();
  await db.schema.dropTable('instances').execute();
  await db.schema.dropTable('bots').execute();
}
