import { upgradeWebSocket } from '@hono/node-server';
import type { Hono, MiddlewareHandler } from 'hono';
import { decodeJwt } from 'jose';
import type { WebSocket } from 'ws';
import { EVENT_PERMISSIONS, isPermission, type Permission } from '../../lib/permissions.js';
import { Conversation } from '../../conversation/commands.js';
import { botNames } from '../../registry/bots.js';
import { FiguresFeed } from '../figures-feed.js';
import { createFleetClient, type FleetClientOptions } from '../fleet-client.js';
import { CLOSE, DEFAULT_SESSION_LIMITS, SocketSession, type VoiceInput } from '../../conversation/socket-session.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../views/problem.js';

/** A JWT: three base64url parts. */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The token: `?token=`, or an entry of Sec-WebSocket-Protocol (browsers cannot set headers on a WebSocket). */
function socketToken(url: string, protocols: string | undefined): string | null {
  const fromQuery = new URL(url).searchParams.get('token');
  if (fromQuery) return fromQuery;
  for (const p of (protocols ?? '').split(',').map((s) => s.trim())) {
    const t = p.startsWith('bearer.') ? p.slice('bearer.'.length) : p;
    if (JWT.test(t)) return t;
  }
  return null;
}

/** When a JWT ends (its exp claim); null without one. Only read after the token was verified. */
function expiryOf(token: string): Date | null {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? new Date(exp * 1000) : null;
  } catch {
    return null;
  }
}

/** The subprotocol to answer with: ours when offered, else the first offered (a client that offered one expects one back). */
export function chooseProtocol(offered: Set<string>): string | false {
  if (offered.has('codex32')) return 'codex32';
  const [first] = offered;
  return first ?? false;
}

export interface CommandSocketDeps {
  voice: VoiceInput | null;
  /** What a route asks of its caller (from the app's route declarations): the chat's permissions. */
  accessOf?: FleetClientOptions['accessOf'];
}

/**
 * GET /ws/command/{user_id}: the chat socket. The upgrade is refused (401,
 * 403, 404) unless the token is a valid access token of that very user with
 * chat:ask. Commands are carried out by calling this same app with that
 * token, so they go through the REST routes' validation, RBAC, limits and
 * audit trail, and start or signal the same workflows.
 */
export function registerCommandSocket(app: Hono<AppEnv>, deps: AppDeps, socketDeps: CommandSocketDeps): void {
  const log = deps.logger.child({ component: 'command-socket' });
  const requestAs = (token: string) => (method: 'GET' | 'POST' | 'DELETE', path: string) =>
    Promise.resolve(app.request(path, { method, headers: { Authorization: `Bearer ${token}` } }));
  const accessOf = socketDeps.accessOf;
  if (!accessOf) throw new Error("the command socket needs the routes' access declarations (accessOf)");
  const events = deps.events;
  if (!events) throw new Error("the command socket needs the fleet's events (deps.events)");
  const figures = new FiguresFeed(
    deps.db,
    deps.samples,
    deps.config.BOT_SAMPLE_INTERVAL_SECONDS * 1000,
    log.child({ component: 'figures' }),
  );

  /** Who a token belongs to and what it may do, or the refusal (the HTTP status of the upgrade answer). */
  const identify = async (
    token: string,
  ): Promise<
    { userId: string; username: string; permissions: Set<Permission> } | { status: 401 | 403 | 429; detail: string }
  > => {
    const me = await requestAs(token)('GET', '/api/v1/auth/me');
    const body: unknown = await me.json().catch(() => null);
    if (me.status !== 200)
      return {
        status: me.status === 429 ? 429 : 401,
        detail: (body as { detail?: string } | null)?.detail ?? 'The token is not valid.',
      };
    const who = body as { type: string; id: string; name: string; permissions: string[] };
    if (who.type !== 'user')
      return { status: 403, detail: 'The command socket is for users, with a user access token.' };
    const permissions = new Set(who.permissions.filter(isPermission));
    if (!permissions.has('chat:ask'))
      return { status: 403, detail: 'The command socket needs the chat:ask permission.' };
    return { userId: who.id, username: who.name, permissions };
  };

  const admit: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!deps.config.ENABLE_CONVERSATIONAL_AI) {
      throw new ApiError(
        404,
        'not-found',
        'Chat is off',
        'The conversational interface is switched off on this platform (ENABLE_CONVERSATIONAL_AI=false).',
      );
    }
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError(
        426,
        'upgrade-required',
        'Upgrade required',
        'This address is a WebSocket: connect with a WebSocket client (Upgrade: websocket), with ?token=<access token>.',
        undefined,
        { Upgrade: 'websocket' },
      );
    }
    const token = socketToken(c.req.url, c.req.header('Sec-WebSocket-Protocol'));
    if (!token)
      throw new ApiError(
        401,
        'unauthorized',
        'Unauthorized',
        'Give your access token: ?token=<access token>, or as a Sec-WebSocket-Protocol entry. Log in with POST /api/v1/auth/login.',
      );
    const who = await identify(token);
    if ('status' in who)
      throw new ApiError(
        who.status,
        who.status === 403 ? 'forbidden' : 'unauthorized',
        who.status === 403 ? 'Forbidden' : 'Unauthorized',
        who.detail,
      );
    // The user's name or immutable id: either names the same user while the token does.
    const userId = c.req.param('user_id');
    if (userId !== who.username && userId !== who.userId) {
      throw new ApiError(
        403,
        'forbidden',
        'Forbidden',
        `This token belongs to ${who.username}, not ${userId}: connect to /ws/command/${who.username}.`,
      );
    }
    c.set('socketUser', { token, userId: who.userId, username: who.username, permissions: who.permissions });
    await next();
  };

  app.get(
    '/ws/command/:user_id',
    admit,
    upgradeWebSocket((c) => {
      const { token, userId, username, permissions } = c.get('socketUser') as {
        token: string;
        userId: string;
        username: string;
        permissions: Set<Permission>;
      };
      // What the socket acts with; a renewed token replaces both (the conversation holds this very set).
      const access = { token, permissions };
      let session: SocketSession | null = null;
      let unsubscribe: (() => void) | null = null;
      let alive = true;
      let pinger: NodeJS.Timeout | undefined;
      return {
        onOpen(_event, ws) {
          const raw = ws.raw as WebSocket;
          const api = createFleetClient({
            request: (method, path) => requestAs(access.token)(method, path),
            accessOf,
            permissions: access.permissions,
            botNames: () => botNames(deps.db),
          });
          const conversation = new Conversation(api, access.permissions);
          session = new SocketSession(
            {
              send: (text) => ws.send(text),
              close: (code, reason) => ws.close(code, reason),
              bufferedAmount: () => raw.bufferedAmount,
            },
            conversation,
            {
              limits: DEFAULT_SESSION_LIMITS,
              logger: log,
              voice: socketDeps.voice,
              botNames: async () => {
                const bots = await conversation.knownBots();
                return bots.ok ? bots.value.flatMap((b) => [b.id, b.name]) : [];
              },
              // Read at each event: a renewed token with another role applies at once.
              mayReceive: (kind) => access.permissions.has(EVENT_PERMISSIONS[kind]),
              figures,
              access: {
                expiresAt: expiryOf(token),
                async renew(fresh) {
                  if (!JWT.test(fresh)) return { refused: 'it is not an access token (a JWT).' };
                  const who = await identify(fresh);
                  if ('status' in who) return { refused: who.detail };
                  if (who.userId !== userId)
                    return {
                      refused: `it belongs to ${who.username === username ? `another user named ${username} (created again since)` : who.username}, not ${username}.`,
                    };
                  access.token = fresh;
                  access.permissions.clear();
                  for (const p of who.permissions) access.permissions.add(p);
                  return { expiresAt: expiryOf(fresh) };
                },
              },
            },
          );
          unsubscribe = events.subscribe((e) => session?.event(e));
          // Keep-alive: a peer that does not answer a ping by the next one is gone.
          raw.on('pong', () => (alive = true));
          pinger = setInterval(() => {
            if (!alive) return raw.terminate();
            alive = false;
            raw.ping();
          }, deps.config.WS_PING_INTERVAL_SECONDS * 1000);
          pinger.unref();
          log.info({ username }, 'chat socket opened');
        },
        onMessage(event, ws) {
          try {
            const data: unknown = event.data;
            if (typeof data === 'string') session?.text(data);
            else session?.binary(Buffer.from(data as ArrayBuffer));
          } catch (err) {
            log.error({ err }, 'a chat frame failed');
            ws.close(CLOSE.internal, 'internal error');
          }
        },
        onClose() {
          clearInterval(pinger);
          unsubscribe?.();
          session?.closeSession();
          log.info({ username }, 'chat socket closed');
        },
        onError(event) {
          log.warn({ err: (event as { error?: unknown }).error }, 'chat socket error');
        },
      };
    }),
  );
}
