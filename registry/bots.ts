import { sql, type Kysely, type Transaction } from 'kysely';
import type { BotStatus, DesiredState } from '../lib/bot-status.js';
import type { BotRow, BotUpdate, Database, NewBot } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertBot(db: Db, bot: NewBot): Promise<BotRow> {
  return db.insertInto('bots').values(bot).returningAll().executeTakeFirstOrThrow();
}

export async function findBot(db: Db, id: string): Promise<BotRow | undefined> {
  return db.selectFrom('bots').selectAll().where('id', '=', id).executeTakeFirst();
}

/** `ids` narrows to those bots (a key limited to some bots). */
export interface BotFilter {
  status?: BotStatus | undefined;
  role?: string | undefined;
  ids?: readonly string[] | undefined;
}

/** The bot's row, locked for the caller's transaction: changes of one bot queue up behind each other. */
export async function lockBot(trx: Transaction<Database>, id: string): Promise<BotRow | undefined> {
  return trx.selectFrom('bots').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function listBots(db: Db, opts: { limit: number; offset: number } & BotFilter): Promise<BotRow[]> {
  let q = db.selectFrom('bots').selectAll();
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.role) q = q.where('role', '=', opts.role);
  if (opts.ids) q = q.where('id', 'in', ['', ...opts.ids]);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

export async function countBots(db: Db, opts: BotFilter): Promise<number> {
  let q = db.selectFrom('bots').select(sql<number>`count(*)::int`.as('n'));
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.role) q = q.where('role', '=', opts.role);
  if (opts.ids) q = q.where('id', 'in', ['', ...opts.ids]);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/** The bots that have an instance in a running status, with it (whose figures are live). */
export async function activeInstances(
  db: Db,
  statuses: readonly BotStatus[],
): Promise<Array<{ id: string; instance_id: string }>> {
  const rows = await db
    .selectFrom('bots')
    .select(['id', 'current_instance_id'])
    .where('status', 'in', [...statuses])
    .where('current_instance_id', 'is not', null)
    .execute();
  return rows.map((r) => ({ id: r.id, instance_id: r.current_instance_id! }));
}

export async function countBotsByStatus(db: Db, ids?: readonly string[]): Promise<Record<string, number>> {
  let q = db.selectFrom('bots').select(['status', sql<number>`count(*)::int`.as('n')]);
  if (ids) q = q.where('id', 'in', ['', ...ids]);
  const rows = await q.groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function updateBot(db: Db, id: string, changes: BotUpdate): Promise<BotRow | undefined> {
  return db
    .updateTable('bots')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export interface StatusChange {
  status: BotStatus;
  desired_state: DesiredState;
  status_reason: string | null;
  restart_count: number;
  current_instance_id: string | null;
}

/** The workflow is the only writer of these columns; the API only reads them. */
export async function recordBotStatus(db: Db, id: string, change: StatusChange): Promise<void> {
  await db
    .updateTable('bots')
    .set({ ...change, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function deleteBot(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('bots').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Every bot, by id (or the one given), with all its columns. */
export async function allBots(db: Db, botId?: string): Promise<BotRow[]> {
  let q = db.selectFrom('bots').selectAll();
  if (botId) q = q.where('id', '=', botId);
  return q.orderBy('id').execute();
}

/** What the health rules read of each sampled bot. */
export async function healthRulesOf(
  db: Db,
  ids: readonly string[],
): Promise<Array<Pick<BotRow, 'id' | 'resources' | 'heartbeat_interval_seconds' | 'health_rules' | 'status'>>> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('bots')
    .select(['id', 'resources', 'heartbeat_interval_seconds', 'health_rules', 'status'])
    .where('id', 'in', [...ids])
    .execute();
}

/** Every bot's restart count and status, for /metrics. */
export async function restartCounts(db: Db): Promise<Array<Pick<BotRow, 'id' | 'status' | 'restart_count'>>> {
  return db.selectFrom('bots').select(['id', 'status', 'restart_count']).execute();
}

/** Of `ids`, those that are bots. */
export async function existingBotIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  return new Set(
    (
      await db
        .selectFrom('bots')
        .select('id')
        .where('id', 'in', [...ids])
        .execute()
    ).map((r) => r.id),
  );
}

/** Answers when the database does: readiness. */
export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

/** Every bot by id and name, nothing more: what the chat resolves a spoken or typed name against, for any number of bots. */
export async function botNames(db: Db): Promise<Array<{ id: string; name: string }>> {
  return db.selectFrom('bots').select(['id', 'name']).orderBy('id').execute();
}
