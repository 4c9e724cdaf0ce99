import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

import type { AppEnv } from '../env.js';
import { ApiError } from '../views/problem.js';
import { API_KEY_PREFIX, type ApiKeys } from './api-keys.js';
import type { RateLimiter } from '../middleware/rate-limit.js';
import { AuthError, userStamp, type AuthService } from './auth-service.js';
import { permissionsOf, type Permission } from '../../lib/permissions.js';
import { claimedTokenType } from './tokens.js';
import { botScope, type Principal } from './principal.js';

export interface AuthenticateOptions {
  auth: AuthService;
  apiKeys: ApiKeys;
  adminApiKey?: string | undefined;
  /** The per-caller request limit: a user's hit also reads the user's stamp (see AuthService.principalFor). */
  requestLimit: RateLimiter;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  return (header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined) ?? null;
}

/** 401 with the header RFC 6750 asks for, in our problem shape. */
export function unauthorized(detail: string): ApiError {
  return new ApiError(401, 'unauthorized', 'Unauthorized', detail, undefined, {
    'WWW-Authenticate': 'Bearer realm="codex32"',
  });
}

/**
 * Finds the principal behind `Authorization: Bearer <access token>` or
 * `X-API-Key`. Credentials that are present but wrong are refused here (401),
 * never downgraded to anonymous.
 */
export function authenticate(opts: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  const adminKey = opts.adminApiKey ? digest(opts.adminApiKey) : undefined;
  return async function authenticateHandler(c, next) {
    const header = c.req.header('Authorization');
    // A key may also come as a bearer token (scrapers such as Prometheus send only Authorization): keys start with c32_, JWTs never do.
    const bearer = header === undefined ? null : bearerToken(header);
    const apiKey = c.req.header('X-API-Key') ?? (bearer?.startsWith(API_KEY_PREFIX) ? bearer : undefined);
    let principal: Principal | null = null;
    if (apiKey !== undefined) {
      if (adminKey && timingSafeEqual(digest(apiKey), adminKey)) {
        principal = {
          type: 'api-key',
          id: 'admin-api-key',
          name: 'ADMIN_API_KEY',
          role: 'admin',
          permissions: permissionsOf('admin'),
        };
      } else {
        principal = await opts.apiKeys.principal(apiKey);
        if (!principal)
          throw unauthorized(
            'The API key is not valid: unknown, revoked or expired. Check the X-API-Key header (or the bearer token).',
          );
      }
    } else if (header !== undefined) {
      const token = bearer;
      if (!token) throw unauthorized('Send the access token as "Authorization: Bearer <token>".');
      try {
        if (claimedTokenType(token) === 'bot') {
          c.set('principal', await opts.auth.principalFromBotToken(token));
          return next();
        }
        const claims = await opts.auth.verifyAccess(token);
        // One round trip counts the request and tells whether the user changed since it was last read.
        const decision = await opts.requestLimit.consume(`user:${claims.sub}`, userStamp(claims.sub));
        c.set('limit', decision);
        principal = await opts.auth.principalFor(claims, decision.stamp);
      } catch (err) {
        if (err instanceof AuthError) throw unauthorized(err.message);
        throw err;
      }
    }
    c.set('principal', principal);
    await next();
  };
}

/** The caller must be authenticated and hold `permission`. */
export function requirePermission(permission: Permission): MiddlewareHandler<AppEnv> {
  return async function requirePermissionHandler(c, next) {
    const principal = c.get('principal');
    if (!principal)
      throw unauthorized(
        'Authenticate first: log in with POST /api/v1/auth/login and send "Authorization: Bearer <access_token>", or send X-API-Key.',
      );
    if (principal.type === 'bot') throw botOnlySelf();
    if (!principal.permissions.has(permission)) {
      throw new ApiError(
        403,
        'forbidden',
        'Forbidden',
        `Your ${principal.role ?? 'key'} access does not include "${permission}". Ask an administrator for it.`,
      );
    }
    checkBotScope(principal, c.req.method, c.req.path, c.req.param('id'));
    await next();
  };
}

export function requireAuthenticated(): MiddlewareHandler<AppEnv> {
  return async function requireAuthenticatedHandler(c, next) {
    const principal = c.get('principal');
    if (!principal)
      throw unauthorized(
        'Authenticate first: log in with POST /api/v1/auth/login and send "Authorization: Bearer <access_token>".',
      );
    if (principal.type === 'bot') throw botOnlySelf();
    await next();
  };
}

const botOnlySelf = () =>
  new ApiError(
    403,
    'forbidden',
    'Forbidden',
    "A bot's token (CODEX32_BOT_TOKEN) works only on its own /api/v1/self endpoints.",
  );

/** The caller must be a bot instance, with its own CODEX32_BOT_TOKEN. */
export function requireBot(): MiddlewareHandler<AppEnv> {
  return async function requireBotHandler(c, next) {
    const principal = c.get('principal');
    if (!principal)
      throw unauthorized(
        'Send the bot\'s own token: "Authorization: Bearer $CODEX32_BOT_TOKEN" (the platform sets it in every bot\'s environment).',
      );
    if (principal.type !== 'bot')
      throw new ApiError(
        403,
        'forbidden',
        'Forbidden',
        '/api/v1/self is for bots, with their own CODEX32_BOT_TOKEN. To read a bot, use GET /api/v1/bots/{id}.',
      );
    await next();
  };
}

/** Where a key limited to some bots may go: its bots' own routes, the bot list (narrowed to them), deployments (checked per bot). */
const SCOPED_PATHS = [/^\/api\/v1\/bots(\/|$)/, /^\/api\/v1\/deployments(\/|$)/];

/**
 * A key minted with `bots` acts on those bots only: a route about another
 * bot, or about the fleet as a whole, is refused (403). Routes that list
 * (bots, deployments) narrow what they return themselves.
 */
function checkBotScope(principal: Principal, method: string, path: string, botId: string | undefined): void {
  const scope = botScope(principal);
  if (!scope) return;
  const limited = `This key is limited to ${scope.size === 1 ? 'one bot' : `${scope.size} bots`}`;
  // Registering makes a bot outside the key's reach: only a key without limits may.
  if (method === 'POST' && /^\/api\/v1\/bots\/?$/.test(path))
    throw new ApiError(403, 'forbidden', 'Forbidden', `${limited}: it cannot register bots.`);
  if (!SCOPED_PATHS.some((p) => p.test(path)))
    throw new ApiError(
      403,
      'forbidden',
      'Forbidden',
      `${limited}: it can reach their own routes (/api/v1/bots/{id}/...) and their deployments, not ${path}.`,
    );
  if (path.startsWith('/api/v1/bots/') && botId !== undefined && !scope.has(botId))
    throw new ApiError(403, 'forbidden', 'Forbidden', `${limited}, and ${botId} is not one of them.`);
}
