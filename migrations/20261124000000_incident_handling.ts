import type { Kysely } from 'kysely';

// Frozen in time: incidents can be acknowledged and resolved by someone, and are filtered by kind and severity.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('incidents')
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('acknowledged_by', 'text')
    .addColumn('resolved_by', 'text')
    .addColumn('resolution', 'text')
    .execute();
  await db.schema.createIndex('incidents_kind_idx').on('incidents').columns(['kind', 'created_at']).execute();
  await db.schema.createIndex('incidents_severity_idx').on('incidents').columns(['severity', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('incidents_severity_idx').execute();
  await db.schema.dropIndex('incidents_kind_idx').execute();
  await db.schema
    .alterTable('incidents')
    .dropColumn('resolution')
    .dropColumn('resolved_by')
    .dropColumn('acknowledged_by')
    .dropColumn('acknowledged_at')
    .execute();
}
