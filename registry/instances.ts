import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, InstanceRow, NewInstance } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Idempotent: a retried launch records the same instance once. */
export async function upsertInstance(db: Db, instance: NewInstance): Promise<void> {
  await db
    .insertInto('instances')
    .values(instance)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        pid: instance.pid ?? null,
        process_start_ticks: instance.process_start_ticks ?? null,
        log_path: instance.log_path ?? null,
      }),
    )
    .execute();
}

export async function findInstance(db: Db, id: string): Promise<InstanceRow | undefined> {
  return db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirst();
}

/** What a bot view needs of its current instances. */
export async function instancesForView(
  db: Db,
  ids: string[],
): Promise<Array<Pick<InstanceRow, 'id' | 'pid' | 'process_start_ticks' | 'started_at'>>> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('instances')
    .select(['id', 'pid', 'process_start_ticks', 'started_at'])
    .where('id', 'in', ids)
    .execute();
}

export async function listOpenInstances(db: Db, runtime: string): Promise<InstanceRow[]> {
  return db.selectFrom('instances').selectAll().where('runtime', '=', runtime).where('ended_at', 'is', null).execute();
}

export async function openInstancesOfBot(db: Db, botId: string): Promise<InstanceRow[]> {
  return db.selectFrom('instances').selectAll().where('bot_id', '=', botId).where('ended_at', 'is', null).execute();
}

export interface InstanceEnd {
  exit_code: number | null;
  exit_signal: string | null;
  end_reason: string;
}

/** Only the first end counts: a later duplicate report changes nothing. */
export async function endInstance(db: Db, id: string, end: InstanceEnd): Promise<boolean> {
  const r = await db
    .updateTable('instances')
    .set({ ...end, ended_at: sql`now()` })
    .where('id', '=', id)
    .where('ended_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A bot's latest instances, newest first. */
export async function recentInstancesOfBot(db: Db, botId: string, limit: number): Promise<InstanceRow[]> {
  return db
    .selectFrom('instances')
    .selectAll()
    .where('bot_id', '=', botId)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** Instances of a bot started since `since`. */
export async function countInstancesSince(db: Db, botId: string, since: Date): Promise<number> {
  const r = await db
    .selectFrom('instances')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('bot_id', '=', botId)
    .where('started_at', '>=', since)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The instance `id` of bot `botId`, whether it has ended: what a bot token is checked against. */
export async function instanceOfBot(
  db: Db,
  botId: string,
  id: string,
): Promise<Pick<InstanceRow, 'id' | 'ended_at'> | undefined> {
  return db
    .selectFrom('instances')
    .select(['id', 'ended_at'])
    .where('id', '=', id)
    .where('bot_id', '=', botId)
    .executeTakeFirst();
}
