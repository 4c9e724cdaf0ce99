import { sql, type Kysely } from 'kysely';

// Frozen in time: numbered revisions of each bot's runnable spec, deployments driven by a workflow through
// phases with a health gate, and uploaded builds (artifacts) stored content-addressed.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('bots')
    .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('artifact', 'text')
    .addColumn('entrypoint', 'text')
    .execute();
  // A bot runs exactly one thing: a blueprint, an image, or an uploaded artifact (with the file of it that runs).
  await db.schema.alterTable('bots').dropConstraint('bots_source_check').execute();
  await db.schema
    .alterTable('bots')
    .addCheckConstraint(
      'bots_source_check',
      sql`num_nonnulls(blueprint, image, artifact) = 1 and (artifact is null) = (entrypoint is null)`,
    )
    .execute();
  await db.schema.alterTable('instances').addColumn('revision', 'integer').execute();

  await db.schema
    .createTable('bot_revisions')
    .addColumn('bot_id', 'text', (c) => c.notNull().references('bots.id').onDelete('cascade'))
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('deployment_id', 'text')
    .addColumn('restores', 'integer')
    .addColumn('passed_gate', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('bot_revisions_pkey', ['bot_id', 'revision'])
    .execute();
  // Every bot that exists gets its current spec as revision 1.
  await sql`
    insert into bot_revisions (bot_id, revision, spec, source, created_by, created_at)
    select id, 1,
      jsonb_build_object('blueprint', blueprint, 'image', image, 'artifact', null, 'entrypoint', null,
                         'args', args, 'env', env, 'resources', resources),
      'create', 'codex32', created_at
    from bots`.execute(db);
  await sql`update bots set revision = 1`.execute(db);

  await db.schema
    .alterTable('deployments')
    .addColumn('phase', 'text', (c) => c.notNull().defaultTo('succeeded'))
    .addColumn('revision', 'integer')
    .addColumn('previous_revision', 'integer')
    .addColumn('rollback_revision', 'integer')
    .addColumn('steps', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('outcome', 'text')
    .addColumn('settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('idempotency_key', 'text')
    .addColumn('request_hash', 'text')
    .addColumn('evidence', 'jsonb')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  // Deployments made before phases existed ended when their workflow took them (or refused them).
  await sql`update deployments set phase = case when result = 'accepted' then 'succeeded' else 'failed' end,
    outcome = result, finished_at = created_at`.execute(db);
  await db.schema
    .alterTable('deployments')
    .alterColumn('action', (c) => c.dropNotNull())
    .execute();
  await db.schema
    .alterTable('deployments')
    .alterColumn('result', (c) => c.dropNotNull())
    .execute();
  // One deployment at a time per bot, whatever races: the database refuses a second active one.
  await sql`create unique index deployments_one_active_idx on deployments (bot_id)
    where phase in ('pending', 'applying', 'verifying', 'rolling_back')`.execute(db);
  await sql`create unique index deployments_idempotency_idx on deployments (requested_by, idempotency_key)
    where idempotency_key is not null`.execute(db);

  await db.schema
    .createTable('artifacts')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('filename', 'text')
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('files', 'jsonb', (c) => c.notNull())
    .addColumn('content', 'bytea', (c) => c.notNull())
    .addColumn('bot_id', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema.alterTable('api_keys').addColumn('bots', 'jsonb').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').dropColumn('bots').execute();
  await db.schema.dropTable('artifacts').execute();
  await db.schema.dropIndex('deployments_idempotency_idx').execute();
  await db.schema.dropIndex('deployments_one_active_idx').execute();
  await sql`update deployments set action = coalesce(action, 'restart'),
    result = coalesce(result, case when phase = 'succeeded' then 'accepted' else 'rejected' end)`.execute(db);
  await db.schema
    .alterTable('deployments')
    .alterColumn('action', (c) => c.setNotNull())
    .execute();
  await db.schema
    .alterTable('deployments')
    .alterColumn('result', (c) => c.setNotNull())
    .execute();
  for (const column of [
    'phase',
    'revision',
    'previous_revision',
    'rollback_revision',
    'steps',
    'outcome',
    'settings',
    'idempotency_key',
    'request_hash',
    'evidence',
    'finished_at',
  ])
    await db.schema.alterTable('deployments').dropColumn(column).execute();
  await db.schema.dropTable('bot_revisions').execute();
  await db.schema.alterTable('instances').dropColumn('revision').execute();
  // A bot that runs an artifact keeps its row, with its entrypoint as a blueprint: it runs again once that file is in BOTS_DIR.
  await sql`update bots set blueprint = entrypoint where artifact is not null`.execute(db);
  await db.schema.alterTable('bots').dropConstraint('bots_source_check').execute();
  await db.schema.alterTable('bots').dropColumn('revision').dropColumn('artifact').dropColumn('entrypoint').execute();
  await db.schema
    .alterTable('bots')
    .addCheckConstraint('bots_source_check', sql`(blueprint is null) <> (image is null)`)
    .execute();
}
