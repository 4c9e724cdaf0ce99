import { sql, type Kysely } from 'kysely';

// Frozen in time: every user gets an immutable id, which tokens carry instead of the user name, so that a
// deleted and re-created user name starts with none of the old sessions. Tokens issued before carry the
// name and stop working: their users log in again.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('id', 'text', (c) => c.notNull().defaultTo(sql`gen_random_uuid()::text`))
    .execute();
  await db.schema.createIndex('users_id_idx').unique().on('users').column('id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('users_id_idx').execute();
  await db.schema.alterTable('users').dropColumn('id').execute();
}
