import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../registry/database.js';
import { isPermission, permissionsOf, type Permission, type Role } from '../../lib/permissions.js';
import type { Principal } from './principal.js';

export interface MintedKey {
  id: string;
  key: string;
  prefix: string;
}

/** What every key starts with: tells a key from a JWT when it comes as a bearer token. */
export const API_KEY_PREFIX = 'c32_';

/** Keys carry 256 random bits, so a fast hash is enough to store them: nothing to brute-force. */
const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export class ApiKeys {
  constructor(private readonly db: Kysely<Database>) {}

  async mint(input: { name: string; role?: Role | undefined; permissions?: Permission[] | undefined; expiresAt: Date | null; createdBy: string }): Promise<MintedKey> {
    const id = randomUUID();
    const prefix = randomBytes(4).toString('hex');
    const key = `${API_KEY_PREFIX}${prefix}_${randomBytes(32).toString('base64url')}`;
    await this.db
      .insertInto('api_keys')
      .values({
        id,
        name: input.name,
        prefix,
        key_hash: hashKey(key),
        role: input.role ?? null,
        permissions: input.permissions ? JSON.stringify(input.permissions) : null,
        created_by: input.createdBy,
        expires_at: input.expiresAt,
      })
      .execute();
    return { id, key, prefix };
  }

  /** The principal of a minted key, or null when it is unknown, revoked or expired. */
  async principal(key: string): Promise<Principal | null> {
    const row = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', hashKey(key))
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
      .executeTakeFirst();
    if (!row) return null;
    // Last use is informative: recorded at most once a minute per key, not on every request.
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: sql`now()` })
      .where('id', '=', row.id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`)]))
      .execute();
    const role = (row.role as Role | null) ?? null;
    const permissions = role ? permissionsOf(role) : new Set((row.permissions ?? []).filter(isPermission));
    return { type: 'api-key', id: row.id, name: row.name, role, permissions };
  }
}
