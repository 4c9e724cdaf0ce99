import type { Kysely, Transaction } from 'kysely';
import type { Database, IncidentRow, NewIncident } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The id comes from the caller (the workflow), so a retried write records the incident once. */
export async function recordIncident(db: Db, incident: NewIncident): Promise<void> {
  await db.insertInto('incidents').values(incident).onConflict((oc) => oc.column('id').doNothing()).execute();
}

export async function listIncidents(
  db: Db,
  opts: { botId?: string | undefined; kind?: string | undefined; limit: number; since?: Date | undefined },
): Promise<IncidentRow[]> {
  let q = db.selectFrom('incidents').selectAll();
  if (opts.botId) q = q.where('bot_id', '=', opts.botId);
  if (opts.kind) q = q.where('kind', '=', opts.kind);
  if (opts.since) q = q.where('created_at', '>=', opts.since);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
}
