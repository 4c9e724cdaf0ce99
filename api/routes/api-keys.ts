import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { plainName } from '../../lib/bot-spec.js';
import { listApiKeys, revokeApiKey } from '../../registry/api-keys.js';
import { escapeForDisplay } from '../../lib/safe-text.js';
import { access } from '../middleware/access.js';
import { checkGrant } from '../auth/grants.js';
import { KEY_PRESETS, PERMISSIONS, ROLES, type KeyPreset, type Permission } from '../../lib/permissions.js';
import { botIdSchema } from '../../lib/bot-spec.js';
import { recordedAs } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError } from '../views/problem.js';

const permissionSchema = z.enum(Object.keys(PERMISSIONS) as [Permission, ...Permission[]]);

const mintSchema = z
  .strictObject({
    name: plainName(100).openapi({ example: 'ci-deploy' }),
    role: z.enum(ROLES).optional(),
    permissions: z
      .array(permissionSchema)
      .min(1)
      .max(Object.keys(PERMISSIONS).length)
      .optional()
      .openapi({ example: ['deployments:create'] }),
    preset: z
      .enum(Object.keys(KEY_PRESETS) as [KeyPreset, ...KeyPreset[]])
      .optional()
      .openapi({
        description: `A named set of permissions for a job: ${Object.entries(KEY_PRESETS)
          .map(([name, ps]) => `${name} = ${ps.join(', ')}`)
          .join('; ')}`,
      }),
    bots: z
      .array(botIdSchema)
      .min(1)
      .max(1000)
      .optional()
      .openapi({
        example: ['analytics-v1'],
        description:
          'Limits the key to these bots: it reads, deploys and uploads builds for them only, and cannot list or reach any other. Not with a role.',
      }),
    expires_in_days: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .openapi({ description: 'Days until the key stops working; omit for no expiry' }),
  })
  .refine((b) => [b.role, b.permissions, b.preset].filter((x) => x !== undefined).length === 1, {
    message:
      'give exactly one of "role" (the key acts with that role), "permissions" (a narrower set) or "preset" (e.g. "deployer" for CI)',
    path: ['role'],
  })
  .refine((b) => !(b.role !== undefined && b.bots !== undefined), {
    message: 'a key with a role acts on every bot; limit a key to bots with "permissions" or "preset"',
    path: ['bots'],
  })
  .openapi('MintApiKey');

const keySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'Shown in the key itself (c32_<prefix>_...), to tell keys apart' }),
    role: z.string().nullable(),
    permissions: z.array(z.string()),
    bots: z.array(z.string()).nullable().openapi({ description: 'The bots the key is limited to; null: every bot' }),
    created_by: z.string(),
    created_at: z.string().datetime(),
    expires_at: z.string().datetime().nullable(),
    revoked_at: z.string().datetime().nullable(),
    last_used_at: z.string().datetime().nullable(),
  })
  .openapi('ApiKey');

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Administrators mint named keys with a role or a narrower permission set; the key is shown once. */
export function apiKeyRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const admin = access(deps, 'api-keys:manage');
  const { db } = deps;

  const list = async (id?: string) => {
    const rows = await listApiKeys(db, id);
    return rows.map((r) => ({
      id: r.id,
      name: escapeForDisplay(r.name),
      prefix: r.prefix,
      role: r.role,
      permissions: r.role ? [] : (r.permissions ?? []),
      bots: r.bots,
      created_by: r.created_by,
      created_at: r.created_at.toISOString(),
      expires_at: iso(r.expires_at),
      revoked_at: iso(r.revoked_at),
      last_used_at: iso(r.last_used_at),
    }));
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/api-keys',
      tags: ['api-keys'],
      summary: 'List API keys (never the keys themselves)',
      ...admin,
      responses: {
        200: {
          description: 'Keys',
          content: {
            'application/json': { schema: z.object({ api_keys: z.array(keySchema), total: z.number().int() }) },
          },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const keys = await list();
      return c.json({ api_keys: keys, total: keys.length }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/api-keys',
      tags: ['api-keys'],
      summary: 'Mint an API key; the response is the only time the key is shown',
      description:
        "The key's role or permissions must be within the caller's own: a key never holds more than whoever minted it (403 names what is beyond reach).",
      ...admin,
      request: { body: jsonBody(mintSchema) },
      responses: {
        201: {
          description: 'Minted',
          content: { 'application/json': { schema: keySchema.extend({ key: z.string(), message: z.string() }) } },
        },
        ...problems(400, 401, 403, 415, 422),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal')!;
      const permissions = body.preset ? [...KEY_PRESETS[body.preset]] : body.permissions;
      if (body.role) checkGrant(principal, { role: body.role }, `mint a key with role ${body.role}`);
      else checkGrant(principal, { permissions: permissions! }, `mint a key with ${permissions!.join(', ')}`);
      const minted = await deps.apiKeys.mint({
        name: body.name,
        role: body.role,
        permissions: permissions ? [...new Set(permissions)] : undefined,
        bots: body.bots ? [...new Set(body.bots)] : undefined,
        expiresAt: body.expires_in_days ? new Date(Date.now() + body.expires_in_days * 86_400_000) : null,
        createdBy: recordedAs(principal),
      });
      const [view] = await list(minted.id);
      return c.json(
        {
          ...view!,
          key: minted.key,
          message: 'Store this key now: it is shown only once. Send it as the X-API-Key header.',
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/api-keys/{id}',
      tags: ['api-keys'],
      summary: 'Revoke an API key (it stops working at once)',
      ...admin,
      request: {
        params: z.object({
          id: z
            .string()
            .uuid()
            .openapi({ param: { name: 'id', in: 'path' } }),
        }),
      },
      responses: {
        200: { description: 'Revoked', content: { 'application/json': { schema: keySchema } } },
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await revokeApiKey(db, id)))
        throw new ApiError(
          404,
          'not-found',
          'Not found',
          `API key "${id}" does not exist. List keys with GET /api/v1/api-keys.`,
        );
      const [view] = await list(id);
      return c.json(view!, 200);
    },
  );

  return app;
}
