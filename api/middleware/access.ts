import type { MiddlewareHandler } from 'hono';
import { requireAuthenticated, requireBot, requirePermission } from '../auth/authenticate.js';
import {
  PERMISSIONS,
  permissionsOf,
  ROLE_PERMISSIONS,
  ROLES,
  type Permission,
  type Role,
} from '../../lib/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../views/problem.js';
import { rateLimitHeaders } from './rate-limit.js';

/**
 * What a route asks of its caller: nothing (`public`), any valid credentials
 * (`signed-in`), or one permission of the table. Every route under /api/v1
 * declares one, through `access()`, which is also what the OpenAPI document
 * and the README's access table are generated from.
 */
export type Access = 'public' | 'signed-in' | 'bot-self' | Permission;

/** The OpenAPI extension that carries a route's access. */
export const ACCESS_EXTENSION = 'x-codex32-access';

export const SECURED: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { apiKey: [] }];

/** The roles whose permissions satisfy `need`. */
export function rolesFor(need: Access): Role[] {
  if (need === 'bot-self') return [];
  if (need === 'public' || need === 'signed-in') return [...ROLES];
  return ROLES.filter((r) => ROLE_PERMISSIONS[r].includes(need));
}

/** One sentence for the OpenAPI description and the README. */
export function describeAccess(need: Access): string {
  if (need === 'public') return 'Access: anyone, no credentials needed.';
  if (need === 'signed-in') return 'Access: any signed-in user or API key.';
  if (need === 'bot-self')
    return 'Access: a bot, with its own token (CODEX32_BOT_TOKEN in its environment); no user or API key.';
  return `Access: permission \`${need}\` (${PERMISSIONS[need]}), held by ${rolesFor(need).join(', ')}, and by keys minted with it.`;
}

/**
 * The per-caller request limit (RATE_LIMIT_REQUESTS a minute): per principal
 * when the caller is known, per client address otherwise. Runs after
 * authentication and before the permission check, so refused calls count too.
 */
export function requestLimit(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async function requestLimitHandler(c, next) {
    let decision = c.get('limit');
    if (!decision) {
      const principal = c.get('principal');
      decision = await deps.requestLimit.consume(
        principal ? `${principal.type}:${principal.id}` : `address:${deps.clientAddress(c) ?? 'unknown'}`,
      );
    }
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      throw new ApiError(
        429,
        'too-many-requests',
        'Too many requests',
        `You sent more than ${decision.limit} requests in a minute (RATE_LIMIT_REQUESTS). Wait ${decision.resetSeconds} s (Retry-After) and slow down.`,
        undefined,
        headers,
      );
    }
    await next();
    // A stricter limit that refused the call (failed logins) has already said its own.
    if (!c.res.headers.has('RateLimit-Limit'))
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}

const BYPASS: Principal = {
  type: 'api-key',
  id: 'bypass',
  name: 'access control off',
  role: 'admin',
  permissions: permissionsOf('admin'),
};

/** Benchmarks only (`accessControl: 'off'`, never from configuration): every caller is an administrator, unchecked. */
const bypass: MiddlewareHandler<AppEnv> = async function bypassHandler(c, next) {
  c.set('principal', BYPASS);
  await next();
};

/**
 * The route fields that enforce `need`: authentication, the request limit and
 * the permission check as route middleware (never a sub-app's `use`, which
 * would leak to every route once mounted), plus the OpenAPI security and
 * access extension.
 */
export function access(
  deps: AppDeps,
  need: Access,
): { middleware: MiddlewareHandler<AppEnv>[]; security?: typeof SECURED; [ACCESS_EXTENSION]: Access } {
  if (need === 'public') return { middleware: [requestLimit(deps)], [ACCESS_EXTENSION]: need };
  const check =
    need === 'signed-in' ? requireAuthenticated() : need === 'bot-self' ? requireBot() : requirePermission(need);
  const middleware: MiddlewareHandler<AppEnv>[] =
    deps.accessControl === 'off' && need !== 'bot-self'
      ? [bypass, requestLimit(deps)]
      : [deps.authenticate, requestLimit(deps), check];
  return { middleware, security: SECURED, [ACCESS_EXTENSION]: need };
}

type Operation = {
  description?: string;
  responses?: Record<string, unknown>;
  [ACCESS_EXTENSION]?: Access;
  'x-codex32-roles'?: Role[];
};

/**
 * Writes each route's access into the OpenAPI document in one place: a line
 * in its description, the roles that may call it (`x-codex32-roles`), and
 * the 401, 403 and 429 responses it can give.
 */
export function withAccess<T>(document: T, problem: (status: number) => unknown): T {
  const paths = (document as { paths?: Record<string, Record<string, Operation>> }).paths ?? {};
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      const need = operation[ACCESS_EXTENSION];
      if (!need) continue;
      operation.description = [operation.description, describeAccess(need)].filter(Boolean).join('\n\n');
      if (need !== 'public' && need !== 'bot-self') operation['x-codex32-roles'] = rolesFor(need);
      operation.responses ??= {};
      const statuses = need === 'public' ? [429] : [401, 403, 429];
      for (const status of statuses) operation.responses[status] ??= problem(status);
    }
  }
  return document;
}
