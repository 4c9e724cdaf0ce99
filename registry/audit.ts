import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AuditLogTable, Database } from './database.js';

export type AuditEntry = Selectable<AuditLogTable>;
export type NewAuditEntry = Insertable<AuditLogTable>;

export async function insertAuditEntry(db: Kysely<Database>, entry: NewAuditEntry): Promise<void> {
  await db.insertInto('audit_log').values(entry).execute();
}

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  target?: string | undefined;
  result?: string | undefined;
  requestId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  limit: number;
}

/** Newest first. */
export async function listAuditEntries(db: Kysely<Database>, f: AuditFilter): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_log').selectAll();
  if (f.actor) query = query.where('actor', '=', f.actor);
  if (f.action) query = query.where('action', '=', f.action);
  if (f.target) query = query.where('target', '=', f.target);
  if (f.result) query = query.where('result', '=', f.result);
  if (f.requestId) query = query.where('request_id', '=', f.requestId);
  if (f.since) query = query.where('at', '>=', f.since);
  if (f.until) query = query.where('at', '<', f.until);
  return query.orderBy('at', 'desc').orderBy('id').limit(f.limit).execute();
}
