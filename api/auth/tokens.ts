import { randomUUID } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

/** access and refresh: a user's session; bot: a bot instance's own credential (CODEX32_BOT_TOKEN), good for /api/v1/self only. */
export type TokenType = 'access' | 'refresh' | 'bot';

/** A bot token lasts as long as its instance (the API checks the instance still runs); this only bounds a leaked one. */
const BOT_TOKEN_TTL_SECONDS = 365 * 86400;
export type TokenAlgorithm = 'HS256' | 'HS384' | 'HS512';

export const TOKEN_ISSUER = 'codex32';
export const TOKEN_AUDIENCE = 'codex32-api';

export interface TokenClaims {
  sub: string;
  jti: string;
  tokenType: TokenType;
  /** Refresh-token family: every rotation stays in it, so reuse revokes them all. */
  family?: string;
  /** The user's token version when issued: bumping it (disable, password reset) voids older tokens. */
  version: number;
  /** Bot tokens: the instance the token was issued to. */
  instance?: string;
  issuedAt: number;
  expiresAt: number;
}

const CLOCK_TOLERANCE_SECONDS = 5;

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenServiceOptions {
  secret: string;
  algorithm: TokenAlgorithm;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

/**
 * Signs and checks JWTs. Only the configured HMAC algorithm is accepted
 * (never `none`, never another), issuer and audience must match, and the
 * token type claim keeps refresh and access tokens from standing in for
 * each other.
 */
export class TokenService {
  private readonly key: Uint8Array;
  /**
   * Access tokens already verified, by their exact text: a signature that
   * verified once verifies again, so only the expiry is checked on later
   * uses. Bounded; the oldest entries go first.
   */
  private readonly verified = new Map<string, TokenClaims>();
  private static readonly VERIFIED_MAX = 10_000;

  constructor(private readonly opts: TokenServiceOptions) {
    if (opts.secret.length < 32)
      throw new Error('API_SECRET_KEY must be at least 32 characters: generate one with `openssl rand -hex 32`');
    this.key = new TextEncoder().encode(opts.secret);
  }

  get accessTtlSeconds(): number {
    return this.opts.accessTtlSeconds;
  }

  async issue(
    type: TokenType,
    sub: string,
    version: number,
    extra: { family?: string; instance?: string } = {},
  ): Promise<{ token: string; claims: TokenClaims }> {
    const { family, instance } = extra;
    const now = Math.floor(Date.now() / 1000);
    const ttl =
      type === 'access'
        ? this.opts.accessTtlSeconds
        : type === 'refresh'
          ? this.opts.refreshTtlSeconds
          : BOT_TOKEN_TTL_SECONDS;
    const jti = randomUUID();
    const payload: JWTPayload = {
      token_type: type,
      ver: version,
      ...(family ? { fid: family } : {}),
      ...(instance ? { iid: instance } : {}),
    };
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: this.opts.algorithm, typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(sub)
      .setJti(jti)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .sign(this.key);
    return {
      token,
      claims: { sub, jti, tokenType: type, family, instance, version, issuedAt: now, expiresAt: now + ttl },
    };
  }

  async verify(token: string, expected: TokenType): Promise<TokenClaims> {
    const known = expected === 'access' ? this.verified.get(token) : undefined;
    if (known) {
      if (Date.now() / 1000 > known.expiresAt + CLOCK_TOLERANCE_SECONDS) {
        this.verified.delete(token);
        throw new TokenError('the token has expired; log in again or refresh it');
      }
      return known;
    }
    const claims = await this.verifySignedToken(token, expected);
    if (expected === 'access') {
      if (this.verified.size >= TokenService.VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
    }
    return claims;
  }

  private async verifySignedToken(token: string, expected: TokenType): Promise<TokenClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [this.opts.algorithm],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ['sub', 'jti', 'exp', 'iat', 'nbf'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (err) {
      throw new TokenError(describe(err));
    }
    if (payload.token_type !== expected) {
      throw new TokenError(
        `a ${typeof payload.token_type === 'string' ? payload.token_type : 'typeless'} token cannot be used as an ${expected} token`,
      );
    }
    if (typeof payload.ver !== 'number') throw new TokenError('the token has no version claim');
    if (expected === 'refresh' && typeof payload.fid !== 'string')
      throw new TokenError('the refresh token has no family');
    if (expected === 'bot' && typeof payload.iid !== 'string') throw new TokenError('the bot token has no instance');
    return {
      sub: payload.sub!,
      jti: payload.jti!,
      tokenType: expected,
      family: typeof payload.fid === 'string' ? payload.fid : undefined,
      instance: typeof payload.iid === 'string' ? payload.iid : undefined,
      version: payload.ver,
      issuedAt: payload.iat!,
      expiresAt: payload.exp!,
    };
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the token has expired; log in again or refresh it';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${err.claim} claim is not valid`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm this API does not accept';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'the token is malformed';
  return 'the token is not valid';
}

/** The token_type a token claims, unverified: only to choose which verification to run (which checks it again). */
export function claimedTokenType(token: string): string | null {
  try {
    const type = decodeJwt(token).token_type;
    return typeof type === 'string' ? type : null;
  } catch {
    return null;
  }
}
