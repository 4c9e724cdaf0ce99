import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { findLiveApiKey, insertApiKey, touchApiKey } from '../../registry/api-keys.js';
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

  async mint(input: {
    name: string;
    role?: Role | undefined;
    permissions?: Permission[] | undefined;
    /** Limits the key to these bots. */
    bots?: string[] | undefined;
    expiresAt: Date | null;
    createdBy: string;
  }): Promise<MintedKey> {
    const id = randomUUID();
    const prefix = randomBytes(4).toString('hex');
    const key = `${API_KEY_PREFIX}${prefix}_${randomBytes(32).toString('base64url')}`;
    await insertApiKey(this.db, {
      id,
      name: input.name,
      prefix,
      key_hash: hashKey(key),
      role: input.role ?? null,
      permissions: input.permissions ? JSON.stringify(input.permissions) : null,
      bots: input.bots ? JSON.stringify(input.bots) : null,
      created_by: input.createdBy,
      expires_at: input.expiresAt,
    });
    return { id, key, prefix };
  }

  /** The principal of a minted key, or null when it is unknown, revoked or expired. */
  async principal(key: string): Promise<Principal | null> {
    const row = await findLiveApiKey(this.db, hashKey(key));
    if (!row) return null;
    await touchApiKey(this.db, row.id);
    const role = (row.role as Role | null) ?? null;
    const permissions = role ? permissionsOf(role) : new Set((row.permissions ?? []).filter(isPermission));
    return {
      type: 'api-key',
      id: row.id,
      name: row.name,
      role,
      permissions,
      ...(row.bots ? { bots: new Set(row.bots) } : {}),
    };
  }
}
