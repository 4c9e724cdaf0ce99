import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Kysely } from 'kysely';
import type { Logger } from '../../lib/logger.js';
import { storableText } from '../../lib/safe-text.js';
import { insertAuditEntry, type NewAuditEntry } from '../../registry/audit.js';
import type { Database } from '../../registry/database.js';
import { principalName } from '../auth/principal.js';
import type { AppEnv } from '../env.js';

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function resultOf(status: number): 'ok' | 'denied' | 'refused' | 'error' {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403) return 'denied';
  return status < 500 ? 'refused' : 'error';
}

/** Every change under /api, and every refused request anywhere (a probe is an attempt too). */
function audited(method: string, path: string, status: number): boolean {
  return status >= 400 || (CHANGES.has(method) && path.startsWith('/api/'));
}

/**
 * Records every attempt to change state (who, what, when, from where,
 * result), and every refused request on any route, after the response is
 * decided, so refusals are on record too. Login attempts are recorded under
 * the name they tried; passwords never are. Whatever a request held, its
 * record is stored: every text is escaped and cut to fit, and a record the
 * database cannot take goes to the log whole instead of being lost.
 */
export function auditTrail(
  db: Kysely<Database>,
  logger: Logger,
  clientAddress: (c: Context) => string | null,
): MiddlewareHandler<AppEnv> {
  return async function auditTrailHandler(c, next) {
    await next();
    if (!audited(c.req.method, c.req.path, c.res.status)) return;
    const principal = c.get('principal');
    let actor = principal ? principalName(principal) : 'anonymous';
    let actorType: string = principal?.type ?? 'anonymous';
    const route = routePath(c, -1);
    const body = c.req.method === 'POST' ? await c.req.json<unknown>().catch(() => null) : null;
    const fields =
      body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    if (route === '/api/v1/auth/login' && typeof fields.username === 'string') {
      actor = fields.username;
      actorType = 'user';
    }
    const params = safeParams(c);
    let target = params.id ?? params.username ?? params.user_id ?? null;
    // Routes without a path id name their target in the body (a new bot's id, a deployment's bot).
    target ??=
      [fields.bot_id, fields.id, fields.username, fields.name].find((v): v is string => typeof v === 'string') ?? null;
    const ip = clientAddress(c);
    const entry: NewAuditEntry = {
      id: randomUUID(),
      actor: storableText(actor, 64),
      actor_type: actorType,
      action: storableText(`${c.req.method} ${route}`, 200),
      target: target === null ? null : storableText(target, 200),
      result: resultOf(c.res.status),
      status: c.res.status,
      ip: ip === null ? null : storableText(ip, 64),
      request_id: c.get('requestId') ?? null,
      details: JSON.stringify({ path: storableText(c.req.path, 2048) }),
    };
    try {
      await insertAuditEntry(db, entry);
    } catch (err) {
      logger.error(
        { err, requestId: entry.request_id, audit: entry },
        'could not write the audit record to the database; it is in this log line instead',
      );
    }
  };
}

/** The path parameters as routed; a parameter that does not decode is shown as sent. */
function safeParams(c: Context): Record<string, string> {
  try {
    return c.req.param() as Record<string, string>;
  } catch {
    return {};
  }
}
