import { sql, type Kysely, type Transaction } from 'kysely';
import type { ArtifactsTable, Database } from './database.js';
import type { Insertable, Selectable } from 'kysely';

type Db = Kysely<Database> | Transaction<Database>;

export type ArtifactInfo = Omit<Selectable<ArtifactsTable>, 'content'>;

/** Stores an upload once per digest: true when it is new, false when those bytes were there already. */
export async function storeArtifact(db: Db, a: Insertable<ArtifactsTable>): Promise<boolean> {
  const r = await db
    .insertInto('artifacts')
    .values(a)
    .onConflict((oc) => oc.column('digest').doNothing())
    .returning('digest')
    .executeTakeFirst();
  return r !== undefined;
}

/** What an artifact holds, without its bytes. */
export async function findArtifact(db: Db, digest: string): Promise<ArtifactInfo | undefined> {
  return db
    .selectFrom('artifacts')
    .select(['digest', 'kind', 'filename', 'size', 'files', 'bot_id', 'created_by', 'created_at'])
    .where('digest', '=', digest)
    .executeTakeFirst();
}

/** The upload as it came, to unpack on a worker's host. */
export async function artifactUpload(
  db: Db,
  digest: string,
): Promise<Pick<Selectable<ArtifactsTable>, 'kind' | 'filename' | 'content'> | undefined> {
  return db
    .selectFrom('artifacts')
    .select(['kind', 'filename', 'content'])
    .where('digest', '=', digest)
    .executeTakeFirst();
}

/**
 * Removes artifacts that none of `inUse` names and that are older than
 * `graceMinutes` (an upload waits that long for the deployment that names
 * it). Returns the digests removed.
 */
export async function removeArtifactsExcept(
  db: Db,
  inUse: ReadonlySet<string>,
  graceMinutes: number,
): Promise<string[]> {
  let q = db
    .deleteFrom('artifacts')
    .where('created_at', '<', sql<Date>`now() - make_interval(mins => ${sql.lit(graceMinutes)})`);
  if (inUse.size > 0) q = q.where('digest', 'not in', [...inUse]);
  const rows = await q.returning('digest').execute();
  return rows.map((r) => r.digest);
}
