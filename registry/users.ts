import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, UserRow, UsersTable } from './database.js';
import type { Updateable } from 'kysely';

type Db = Kysely<Database> | Transaction<Database>;

export async function findUser(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

/** By the immutable id that tokens carry. */
export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('username').execute();
}

export async function countUsers(db: Db): Promise<number> {
  const r = await db
    .selectFrom('users')
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Enabled administrators other than `username`. */
export async function countOtherActiveAdmins(db: Db, username: string): Promise<number> {
  const r = await db
    .selectFrom('users')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('role', '=', 'admin')
    .where('disabled', '=', false)
    .where('username', '!=', username)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function insertUser(
  db: Db,
  user: { username: string; password_hash: string; role: UserRow['role'] },
): Promise<UserRow> {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow();
}

export async function updateUser(
  db: Db,
  username: string,
  changes: Pick<Updateable<UsersTable>, 'role' | 'disabled' | 'password_hash'>,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ ...changes, updated_at: sql`now()` })
    .where('username', '=', username)
    .execute();
}

/** Its refresh tokens go with it (foreign key); its access tokens name its id, which no later user gets. */
export async function deleteUser(db: Db, username: string): Promise<void> {
  await db.deleteFrom('users').where('username', '=', username).execute();
}

export async function recordRefreshToken(
  db: Db,
  token: { jti: string; family_id: string; username: string; expires_at: Date },
): Promise<void> {
  await db.insertInto('refresh_tokens').values(token).execute();
}

/**
 * Marks a refresh token used, once. Returns false when it was used or revoked
 * before: the caller treats that as theft and revokes the whole family.
 */
export async function useRefreshToken(db: Db, jti: string): Promise<boolean> {
  const r = await db
    .updateTable('refresh_tokens')
    .set({ used_at: sql`now()` })
    .where('jti', '=', jti)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function revokeFamily(db: Db, familyId: string): Promise<void> {
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: sql`now()` })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Voids every token of the user: access tokens by their version claim, refresh tokens by revocation. Call inside a transaction. */
export async function endAllSessions(db: Db, username: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ token_version: sql`token_version + 1`, updated_at: sql`now()` })
    .where('username', '=', username)
    .execute();
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: sql`now()` })
    .where('username', '=', username)
    .where('revoked_at', 'is', null)
    .execute();
}
