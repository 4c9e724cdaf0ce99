import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../registry/database.js';
import type { RateLimitStore } from '../middleware/rate-limit.js';
import { instanceOfBot } from '../../registry/instances.js';
import {
  endAllSessions,
  findUser,
  findUserById,
  recordRefreshToken,
  revokeFamily,
  useRefreshToken,
} from '../../registry/users.js';
import { decoyHash, verifyPassword } from './passwords.js';
import { permissionsOf } from '../../lib/permissions.js';
import type { Principal } from './principal.js';
import { TokenError, type TokenClaims, type TokenService, type TokenType } from './tokens.js';

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

/** A cached user is reloaded after this long even when no stamp says it changed: the bound on staleness if a bump was lost. */
const USER_CACHE_MS = 10_000;
const USER_CACHE_MAX = 10_000;

type UserState = Pick<UserRow, 'id' | 'username' | 'role' | 'disabled' | 'token_version'>;

/** The stamp bumped whenever a user's role, state or sessions change; by the user's immutable id, as tokens name it. */
export const userStamp = (userId: string) => `user:${userId}`;

export class AuthService {
  /**
   * Users as last read from the database, each with the stamp seen then. A
   * request reads the user's current stamp in the round trip it makes to the
   * request limiter anyway; while the stamps agree, the database is not asked.
   */
  private readonly users = new Map<string, { user: UserState; stamp: string | null; at: number }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly tokens: TokenService,
    private readonly stamps: Pick<RateLimitStore, 'bumpStamp'> = { bumpStamp: async () => undefined },
  ) {}

  async login(username: string, password: string): Promise<TokenPair> {
    const user = await findUser(this.db, username);
    // Verify against a decoy when the user does not exist: the same cost either way.
    const ok = await verifyPassword(user?.password_hash ?? (await decoyHash()), password);
    if (!user || !ok) throw new AuthError(BAD_LOGIN);
    if (user.disabled) throw new AuthError('This account is disabled. Ask an administrator to enable it.');
    return this.issuePair(user, randomUUID());
  }

  /** Rotates: the presented refresh token is spent; presenting it again revokes its whole family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = await this.verify(refreshToken, 'refresh');
    const user = await findUserById(this.db, claims.sub);
    if (!user || user.disabled || user.token_version !== claims.version) {
      throw new AuthError('This session has ended (the account was changed, disabled or deleted). Log in again.');
    }
    const spent = await this.db.transaction().execute(async (trx) => {
      const fresh = await useRefreshToken(trx, claims.jti);
      if (!fresh) await revokeFamily(trx, claims.family!);
      return fresh;
    });
    if (!spent) {
      throw new AuthError(
        'This refresh token was already used: every token of this login is now revoked. Log in again.',
      );
    }
    return this.issuePair(user, claims.family!);
  }

  /** The claims of a valid access token, or AuthError saying what is wrong with it. */
  verifyAccess(token: string): Promise<TokenClaims> {
    return this.verify(token, 'access');
  }

  /**
   * The user behind verified claims, as the database has it now: disabled
   * users and role changes apply at the next request. Tokens name the
   * user's immutable id, never the name: a user deleted and created again
   * under the same name is another user, with none of the old sessions.
   * `stamp` is the user's stamp as just read from the shared store
   * (undefined: unknown, so read the database).
   */
  async principalFor(claims: TokenClaims, stamp: string | null | undefined): Promise<Principal> {
    const cached = stamp !== undefined ? this.users.get(claims.sub) : undefined;
    let user: UserState | undefined;
    if (cached && cached.stamp === stamp && Date.now() - cached.at < USER_CACHE_MS) {
      user = cached.user;
    } else {
      user = await findUserById(this.db, claims.sub);
      this.users.delete(claims.sub);
      if (user && stamp !== undefined) {
        if (this.users.size >= USER_CACHE_MAX) this.users.delete(this.users.keys().next().value!);
        this.users.set(claims.sub, {
          user: {
            id: user.id,
            username: user.username,
            role: user.role,
            disabled: user.disabled,
            token_version: user.token_version,
          },
          stamp,
          at: Date.now(),
        });
      }
    }
    if (!user) throw new AuthError('The user of this token no longer exists.');
    if (user.disabled) throw new AuthError('This account is disabled. Ask an administrator to enable it.');
    if (user.token_version !== claims.version)
      throw new AuthError('This token was revoked (password reset or logout everywhere). Log in again.');
    return {
      type: 'user',
      id: user.id,
      username: user.username,
      role: user.role,
      permissions: permissionsOf(user.role),
    };
  }

  /** The bot instance behind a CODEX32_BOT_TOKEN; its instance must still run (a new instance gets a new token). */
  async principalFromBotToken(token: string): Promise<Principal> {
    const claims = await this.verify(token, 'bot');
    const instance = await instanceOfBot(this.db, claims.sub, claims.instance!);
    if (!instance) throw new AuthError('This bot token belongs to no instance of this bot.');
    if (instance.ended_at)
      throw new AuthError(
        'This bot token belonged to an instance that has ended; the running instance has its own CODEX32_BOT_TOKEN.',
      );
    return {
      type: 'bot',
      id: claims.sub,
      botId: claims.sub,
      instanceId: claims.instance!,
      role: null,
      permissions: new Set(),
    };
  }

  /** Call after a user's role, state, password or sessions changed (committed), or the user was deleted: every API process rereads the user. */
  async userChanged(userId: string): Promise<void> {
    this.users.delete(userId);
    await this.stamps.bumpStamp(userStamp(userId));
  }

  /** Ends the session of `refreshToken`, or every session of the user with `everywhere`. */
  async logout(
    user: { id: string; username: string },
    opts: { refreshToken?: string; everywhere?: boolean },
  ): Promise<void> {
    if (opts.everywhere) {
      await this.db.transaction().execute((trx) => endAllSessions(trx, user.username));
      await this.userChanged(user.id);
      return;
    }
    if (opts.refreshToken) {
      const claims = await this.verify(opts.refreshToken, 'refresh');
      if (claims.sub !== user.id) throw new AuthError('That refresh token belongs to another user.');
      await revokeFamily(this.db, claims.family!);
    }
  }

  private async verify(token: string, type: TokenType) {
    try {
      return await this.tokens.verify(token, type);
    } catch (err) {
      if (err instanceof TokenError) throw new AuthError(`${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`);
      throw err;
    }
  }

  private async issuePair(
    user: Pick<UserRow, 'id' | 'username' | 'token_version'>,
    family: string,
  ): Promise<TokenPair> {
    const access = await this.tokens.issue('access', user.id, user.token_version);
    const refresh = await this.tokens.issue('refresh', user.id, user.token_version, { family });
    await recordRefreshToken(this.db, {
      jti: refresh.claims.jti,
      family_id: family,
      username: user.username,
      expires_at: new Date(refresh.claims.expiresAt * 1000),
    });
    return {
      access_token: access.token,
      refresh_token: refresh.token,
      token_type: 'bearer',
      expires_in: this.tokens.accessTtlSeconds,
    };
  }
}
