import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { AuthError } from '../auth/auth-service.js';
import { access } from '../middleware/access.js';
import { bearerToken, unauthorized } from '../auth/authenticate.js';
import { PERMISSIONS } from '../../lib/permissions.js';
import { principalName } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError } from '../views/problem.js';
import { rateLimitHeaders } from '../middleware/rate-limit.js';

const tokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the access token expires' }),
  })
  .openapi('TokenPair');

const loginSchema = z
  .strictObject({
    username: z.string().min(1).max(64),
    password: z.string().min(1).max(256),
  })
  .openapi('Login');

const logoutSchema = z
  .strictObject({
    refresh_token: z.string().max(4096).optional(),
    everywhere: z
      .boolean()
      .default(false)
      .openapi({ description: 'End every session of this user (all tokens issued so far stop working)' }),
  })
  .openapi('Logout');

const bearer = (header: string | undefined): string => {
  const token = bearerToken(header);
  if (!token) throw unauthorized('Send the refresh token as "Authorization: Bearer <refresh_token>".');
  return token;
};

/** Login, token rotation, logout and "who am I". Everything else about users comes with the users resource. */
export function authRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const refuse = (err: unknown): never => {
    if (err instanceof AuthError) throw unauthorized(err.message);
    throw err;
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/auth/login',
      ...access(deps, 'public'),
      tags: ['auth'],
      summary: 'Exchange a user name and password for an access and a refresh token',
      request: { body: jsonBody(loginSchema) },
      responses: {
        200: { description: 'Tokens', content: { 'application/json': { schema: tokenPairSchema } } },
        ...problems(400, 401, 415, 422, 429),
      },
    }),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const address = deps.clientAddress(c) ?? 'unknown';
      const { account, address: perAddress } = deps.loginLimits;
      // Refuse before checking the password: a throttled guess must cost the guesser, not us.
      for (const [limiter, id, what] of [
        [account, username, 'this account'],
        [perAddress, address, 'your address'],
      ] as const) {
        const state = await limiter.check(id);
        if (!state.allowed) {
          throw new ApiError(
            429,
            'too-many-failed-logins',
            'Too many failed logins',
            `Too many failed logins for ${what}. Try again in ${state.resetSeconds} s (see Retry-After).`,
            undefined,
            rateLimitHeaders(state),
          );
        }
      }
      try {
        const tokens = await deps.auth.login(username, password);
        await account.reset(username);
        return c.json(tokens, 200);
      } catch (err) {
        if (err instanceof AuthError) await Promise.all([account.consume(username), perAddress.consume(address)]);
        return refuse(err);
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/auth/refresh',
      ...access(deps, 'public'),
      tags: ['auth'],
      summary: 'Rotate: spend a refresh token (Authorization: Bearer <refresh_token>) for a new pair',
      description: 'A refresh token works once. Presenting a spent one revokes every token of that login.',
      responses: {
        200: { description: 'New tokens', content: { 'application/json': { schema: tokenPairSchema } } },
        ...problems(401),
      },
    }),
    async (c) => c.json(await deps.auth.refresh(bearer(c.req.header('Authorization'))).catch(refuse), 200),
  );

  const signedIn = access(deps, 'signed-in');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/auth/logout',
      tags: ['auth'],
      ...signedIn,
      summary: 'End this session (its refresh token family), or every session',
      request: { body: { content: { 'application/json': { schema: logoutSchema } }, required: false } },
      responses: {
        200: {
          description: 'Logged out',
          content: { 'application/json': { schema: z.object({ message: z.string() }) } },
        },
        ...problems(401, 409, 422),
      },
    }),
    async (c) => {
      const principal = c.get('principal')!;
      if (principal.type !== 'user')
        throw new ApiError(
          409,
          'conflict',
          'No session',
          'API keys have no session to end; revoke the key instead (DELETE /api/v1/api-keys/{id}).',
        );
      const body = c.req.header('Content-Type')?.includes('json') ? c.req.valid('json') : { everywhere: false };
      await deps.auth
        .logout(principal, { refreshToken: body.refresh_token, everywhere: body.everywhere })
        .catch(refuse);
      return c.json({ message: body.everywhere ? 'Every session of this user has ended.' : 'Logged out.' }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/auth/me',
      tags: ['auth'],
      ...signedIn,
      summary: 'Who the caller is',
      responses: {
        200: {
          description: 'The caller',
          content: {
            'application/json': {
              schema: z.object({
                type: z.enum(['user', 'api-key', 'bot']),
                id: z
                  .string()
                  .openapi({ description: "A user's immutable id (tokens name it), a key's id, or a bot's id" }),
                name: z.string(),
                role: z.string().nullable(),
                permissions: z.array(z.string()),
              }),
            },
          },
        },
        ...problems(401),
      },
    }),
    (c) => {
      const p = c.get('principal')!;
      return c.json(
        { type: p.type, id: p.id, name: principalName(p), role: p.role, permissions: [...p.permissions].sort() },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/auth/permissions',
      tags: ['auth'],
      ...signedIn,
      summary: "The caller's permissions, each with what it allows",
      responses: {
        200: {
          description: 'Permissions',
          content: {
            'application/json': {
              schema: z.object({
                role: z.string().nullable(),
                permissions: z.array(z.object({ name: z.string(), allows: z.string() })),
              }),
            },
          },
        },
        ...problems(401),
      },
    }),
    (c) => {
      const p = c.get('principal')!;
      const permissions = [...p.permissions].sort().map((name) => ({ name, allows: PERMISSIONS[name] }));
      return c.json({ role: p.role, permissions }, 200);
    },
  );

  return app;
}
