import type { Kysely } from 'kysely';
import type { Database, DeploymentRow, DeploymentsTable } from './database.js';
import type { Insertable } from 'kysely';

export async function insertDeployment(
  db: Kysely<Database>,
  row: Insertable<DeploymentsTable>,
): Promise<DeploymentRow> {
  return db.insertInto('deployments').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findDeployment(db: Kysely<Database>, id: string): Promise<DeploymentRow | undefined> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first. */
export async function listDeployments(
  db: Kysely<Database>,
  opts: { botId?: string | undefined; limit: number; offset: number },
): Promise<{ rows: DeploymentRow[]; total: number }> {
  let q = db.selectFrom('deployments');
  if (opts.botId) q = q.where('bot_id', '=', opts.botId);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).offset(opts.offset).execute(),
    q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}
