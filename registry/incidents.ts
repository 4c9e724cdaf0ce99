import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, IncidentRow, NewIncident } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

export type IncidentState = 'open' | 'acknowledged' | 'resolved';

/** The id comes from the caller (the workflow), so a retried write records the incident once; true when this call wrote it. */
export async function recordIncident(db: Db, incident: NewIncident): Promise<boolean> {
  const r = await db
    .insertInto('incidents')
    .values(incident)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

export interface IncidentFilter {
  botId?: string | undefined;
  kind?: string | undefined;
  severity?: string | undefined;
  state?: IncidentState | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  limit: number;
  offset?: number | undefined;
}

/** Newest first, with the number matching the filter. */
export async function listIncidents(db: Db, f: IncidentFilter): Promise<{ rows: IncidentRow[]; total: number }> {
  let q = db.selectFrom('incidents');
  if (f.botId) q = q.where('bot_id', '=', f.botId);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.severity) q = q.where('severity', '=', f.severity as IncidentRow['severity']);
  if (f.since) q = q.where('created_at', '>=', f.since);
  if (f.until) q = q.where('created_at', '<', f.until);
  if (f.state === 'resolved') q = q.where('resolved_at', 'is not', null);
  else if (f.state === 'acknowledged') q = q.where('resolved_at', 'is', null).where('acknowledged_at', 'is not', null);
  else if (f.state === 'open') q = q.where('resolved_at', 'is', null).where('acknowledged_at', 'is', null);
  const [rows, count] = await Promise.all([
    q
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(f.limit)
      .offset(f.offset ?? 0)
      .execute(),
    q.select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function findIncident(db: Db, id: string): Promise<IncidentRow | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Sets the acknowledgement once; the row as it is afterwards. */
export async function acknowledgeIncident(db: Db, id: string, by: string): Promise<IncidentRow | undefined> {
  await db
    .updateTable('incidents')
    .set({ acknowledged_at: sql`now()`, acknowledged_by: by })
    .where('id', '=', id)
    .where('acknowledged_at', 'is', null)
    .execute();
  return findIncident(db, id);
}

/** Resolves once (acknowledging too, when nobody had); the row as it is afterwards. */
export async function resolveIncident(
  db: Db,
  id: string,
  by: string,
  resolution: string | null,
): Promise<IncidentRow | undefined> {
  await db
    .updateTable('incidents')
    .set({
      resolved_at: sql`now()`,
      resolved_by: by,
      resolution,
      acknowledged_at: sql`coalesce(acknowledged_at, now())`,
      acknowledged_by: sql`coalesce(acknowledged_by, ${by})`,
    })
    .where('id', '=', id)
    .where('resolved_at', 'is', null)
    .execute();
  return findIncident(db, id);
}

/** Incidents since `since` by bot and kind, with how many of them are not resolved yet (all bots when `botId` is not given). */
export async function incidentCounts(
  db: Db,
  since: Date,
  botId?: string,
): Promise<Array<{ bot_id: string; kind: string; total: number; unresolved: number; last_at: Date }>> {
  let q = db.selectFrom('incidents').where('created_at', '>=', since);
  if (botId) q = q.where('bot_id', '=', botId);
  const rows = await q
    .select([
      'bot_id',
      'kind',
      sql<number>`count(*)::int`.as('total'),
      sql<number>`(count(*) filter (where resolved_at is null))::int`.as('unresolved'),
      sql<Date>`max(created_at)`.as('last_at'),
    ])
    .groupBy(['bot_id', 'kind'])
    .execute();
  return rows.map((r) => ({
    bot_id: r.bot_id,
    kind: r.kind,
    total: Number(r.total),
    unresolved: Number(r.unresolved),
    last_at: new Date(r.last_at),
  }));
}

/** Incidents nobody resolved yet (of one bot, when given), oldest first. */
export async function unresolvedIncidents(db: Db, limit: number, botId?: string): Promise<IncidentRow[]> {
  let q = db.selectFrom('incidents').selectAll().where('resolved_at', 'is', null);
  if (botId) q = q.where('bot_id', '=', botId);
  return q.orderBy('created_at').limit(limit).execute();
}

/** How many incidents of each bot given are not resolved yet (bots without any are absent). */
export async function unresolvedCounts(db: Db, botIds: readonly string[]): Promise<Map<string, number>> {
  if (botIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('incidents')
    .select(['bot_id', sql<number>`count(*)::int`.as('n')])
    .where('resolved_at', 'is', null)
    .where('bot_id', 'in', [...botIds])
    .groupBy('bot_id')
    .execute();
  return new Map(rows.map((r) => [r.bot_id, Number(r.n)]));
}

/** The latest incident of each bot given. */
export async function latestIncidents(db: Db, botIds: readonly string[]): Promise<Map<string, IncidentRow>> {
  if (botIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('incidents')
    .selectAll()
    .distinctOn('bot_id')
    .where('bot_id', 'in', [...botIds])
    .orderBy('bot_id')
    .orderBy('created_at', 'desc')
    .execute();
  return new Map(rows.map((r) => [r.bot_id, r]));
}

/** Incidents counted by kind, severity and state: for /metrics. */
export async function incidentTally(
  db: Db,
): Promise<Array<{ kind: string; severity: string; state: IncidentState; n: number }>> {
  const rows = await db
    .selectFrom('incidents')
    .select([
      'kind',
      'severity',
      sql<IncidentState>`case when resolved_at is not null then 'resolved' when acknowledged_at is not null then 'acknowledged' else 'open' end`.as(
        'state',
      ),
      sql<number>`count(*)::int`.as('n'),
    ])
    .groupBy(['kind', 'severity', 'state'])
    .execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}
