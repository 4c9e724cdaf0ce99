import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Kysely } from 'kysely';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../registry/database.js';
import { principalName } from './auth/principal.js';
import type { AppEnv } from './deps.js';

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function resultOf(status: number): 'ok' | 'denied' | 'refused' | 'error' {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403) return 'denied';
  return status < 500 ? 'refused' : 'error';
}

/**
 * Records every attempt to change state (who, what, when, from where, result),
 * after the response is decided, so refusals are on record too. Login
 * attempts are recorded under the name they tried; passwords never are.
 */
export function auditTrail(db: Kysely<Database>, logger: Logger, clientAddress: (c: Context) => string | null): MiddlewareHandler<AppEnv> {
  return async function auditTrailHandler(c, next) {
    await next();
    if (!CHANGES.has(c.req.method) || !c.req.path.startsWith('/api/')) return;
    const principal = c.get('principal');
    let actor = principal ? principalName(principal) : 'anonymous';
    let actorType = principal?.type ?? 'anonymous';
    const route = routePath(c, -1);
    if (route === '/api/v1/auth/login') {
      const tried = await c.req.json<{ username?: unknown }>().catch(() => null);
      if (typeof tried?.username === 'string') {
        actor = tried.username.slice(0, 64);
        actorType = 'user';
      }
    }
    const params = c.req.param() as Record<string, string>;
    let target = params.id ?? params.username ?? null;
    if (target === null && c.req.method === 'POST') {
      // Routes without a path id name their target in the body (a new bot's id, a deployment's bot).
      const body = await c.req.json<Record<string, unknown>>().catch(() => null);
      const named = body && typeof body === 'object' ? [body.bot_id, body.id, body.username, body.name].find((v) => typeof v === 'string') : undefined;
      if (typeof named === 'string') target = named.slice(0, 200);
    }
    try {
      await db
        .insertInto('audit_log')
        .values({
          id: randomUUID(),
          actor,
          actor_type: actorType,
          action: `${c.req.method} ${route}`,
          target,
          result: resultOf(c.res.status),
          status: c.res.status,
          ip: clientAddress(c),
          request_id: c.get('requestId') ?? null,
          details: JSON.stringify({ path: c.req.path }),
        })
        .execute();
    } catch (err) {
      logger.error({ err, requestId: c.get('requestId') }, 'could not write the audit record');
    }
  };
}
