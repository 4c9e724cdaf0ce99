import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../registry/database.js';
import { endAllSessions, findUser, recordRefreshToken, revokeFamily, useRefreshToken } from '../../registry/users.js';
import { decoyHash, verifyPassword } from './passwords.js';
import { permissionsOf } from './permissions.js';
import type { Principal } from './principal.js';
import { TokenError, type TokenService } from './tokens.js';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
}

/** A refused credential; the message says why and what to do, without telling a stranger which part was wrong. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

const BAD_LOGIN = 'Invalid username or password.';

export class AuthService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tokens: TokenService,
  ) {}

  async login(username: string, password: string): Promise<TokenPair> {
    const user = await findUser(this.db, username);
    // Verify against a decoy when the user does not exist: the same cost either way.
    const ok = await verifyPassword(user?.password_hash ?? (await decoyHash()), password);
    if (!user || !ok) throw new AuthError(BAD_LOGIN);
    if (user.disabled) throw new AuthError('This account is disabled. Ask an administrator to enable it.');
    return this.issuePair(user.username, user.token_version, randomUUID());
  }

  /** Rotates: the presented refresh token is spent; presenting it again revokes its whole family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = await this.verify(refreshToken, 'refresh');
    const user = await findUser(this.db, claims.sub);
    if (!user || user.disabled || user.token_version !== claims.version) {
      throw new AuthError('This session has ended (the account was changed, disabled or deleted). Log in again.');
    }
    const spent = await this.db.transaction().execute(async (trx) => {
      const fresh = await useRefreshToken(trx, claims.jti);
      if (!fresh) await revokeFamily(trx, claims.family!);
      return fresh;
    });
    if (!spent) {
      throw new AuthError('This refresh token was already used: every token of this login is now revoked. Log in again.');
    }
    return this.issuePair(user.username, user.token_version, claims.family!);
  }

  /** The user behind an access token, as the database has it now (disabled users and role changes apply at once). */
  async principalFromAccessToken(token: string): Promise<Principal> {
    const claims = await this.verify(token, 'access');
    const user = await findUser(this.db, claims.sub);
    if (!user) throw new AuthError('The user of this token no longer exists.');
    if (user.disabled) throw new AuthError('This account is disabled. Ask an administrator to enable it.');
    if (user.token_version !== claims.version) throw new AuthError('This token was revoked (password reset or logout everywhere). Log in again.');
    return { type: 'user', id: user.username, username: user.username, role: user.role, permissions: permissionsOf(user.role) };
  }

  /** Ends the session of `refreshToken`, or every session of the user with `everywhere`. */
  async logout(username: string, opts: { refreshToken?: string; everywhere?: boolean }): Promise<void> {
    if (opts.everywhere) {
      await this.db.transaction().execute((trx) => endAllSessions(trx, username));
      return;
    }
    if (opts.refreshToken) {
      const claims = await this.verify(opts.refreshToken, 'refresh');
      if (claims.sub !== username) throw new AuthError('That refresh token belongs to another user.');
      await revokeFamily(this.db, claims.family!);
    }
  }

  private async verify(token: string, type: 'access' | 'refresh') {
    try {
      return await this.tokens.verify(token, type);
    } catch (err) {
      if (err instanceof TokenError) throw new AuthError(`${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`);
      throw err;
    }
  }

  private async issuePair(username: string, version: number, family: string): Promise<TokenPair> {
    const access = await this.tokens.issue('access', username, version);
    const refresh = await this.tokens.issue('refresh', username, version, family);
    await recordRefreshToken(this.db, {
      jti: refresh.claims.jti,
      family_id: family,
      username,
      expires_at: new Date(refresh.claims.expiresAt * 1000),
    });
    return { access_token: access.token, refresh_token: refresh.token, token_type: 'bearer', expires_in: this.tokens.accessTtlSeconds };
  }
}
