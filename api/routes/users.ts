import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  countOtherActiveAdmins,
  deleteUser,
  endAllSessions,
  findUser,
  insertUser,
  listUsers,
  updateUser,
} from '../../registry/users.js';
import type { UserRow } from '../../registry/database.js';
import { access } from '../middleware/access.js';
import { hashPassword, passwordProblem } from '../auth/passwords.js';
import { checkGrant } from '../auth/grants.js';
import { ROLES, type Role } from '../../lib/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jsonBody, problems } from '../views/openapi.js';
import { ApiError } from '../views/problem.js';

export const usernameSchema = z
  .string()
  .min(2)
  .max(63)
  .regex(
    /^[a-z0-9][a-z0-9._-]+$/,
    'a user name is lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
  )
  .openapi({ example: 'alice', param: { name: 'username', in: 'path' } });

const roleSchema = z.enum(ROLES).openapi('Role');

const userSchema = z
  .object({
    id: z.string().openapi({
      description: 'Immutable: what tokens name. A user deleted and created again under the same name gets a new id.',
    }),
    username: z.string(),
    role: roleSchema,
    disabled: z.boolean(),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi('User');

const createUserSchema = z
  .strictObject({ username: usernameSchema, password: z.string().max(256), role: roleSchema })
  .openapi('CreateUser');
const updateUserSchema = z
  .strictObject({
    role: roleSchema.optional(),
    disabled: z.boolean().optional(),
    password: z.string().max(256).optional().openapi({ description: 'A new password; every session of the user ends' }),
  })
  .refine((b) => Object.keys(b).length > 0, 'the body must change at least one of role, disabled, password')
  .openapi('UpdateUser');

const view = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  role: u.role,
  disabled: u.disabled,
  created_at: u.created_at.toISOString(),
  updated_at: u.updated_at.toISOString(),
});

const weak = (problem: string) =>
  new ApiError(422, 'validation', 'Weak password', `The password is too weak: ${problem}. Nothing was changed.`, [
    { path: 'password', message: problem },
  ]);

/**
 * A user whose role holds more than the caller does is beyond the caller's
 * reach: changing their password, role or state, or deleting them, would
 * let a narrow key take over or lock out a wider account.
 */
function checkWithinReach(caller: Principal, user: UserRow, act: 'change' | 'delete'): void {
  checkGrant(caller, { role: user.role }, `${act} ${user.username}, ${aRole(user.role)}`);
}

const aRole = (role: Role) =>
  ({ admin: 'an admin', operator: 'an operator', viewer: 'a viewer', user: 'a user' })[role];

/** Administrators manage users; changes apply at the user's next request. Nobody creates, changes or deletes a user with more rights than their own. */
export function userRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const admin = access(deps, 'users:manage');
  const { db } = deps;

  const load = async (username: string) => {
    const user = await findUser(db, username);
    if (!user)
      throw new ApiError(
        404,
        'not-found',
        'Not found',
        `User "${username}" does not exist. List users with GET /api/v1/users.`,
      );
    return user;
  };
  /** Refuses a change that would leave no enabled administrator: nobody could manage users any more. */
  const keepAnAdmin = async (username: string) => {
    if ((await countOtherActiveAdmins(db, username)) === 0) {
      throw new ApiError(
        409,
        'conflict',
        'Last administrator',
        `"${username}" is the last enabled administrator. Make another user an administrator first.`,
      );
    }
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/users',
      tags: ['users'],
      summary: 'List users',
      ...admin,
      responses: {
        200: {
          description: 'Users',
          content: {
            'application/json': { schema: z.object({ users: z.array(userSchema), total: z.number().int() }) },
          },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const rows = await listUsers(db);
      return c.json({ users: rows.map(view), total: rows.length }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/users',
      tags: ['users'],
      summary: 'Create a user',
      ...admin,
      request: { body: jsonBody(createUserSchema) },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: userSchema } } },
        ...problems(400, 401, 403, 409, 415, 422),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      checkGrant(c.get('principal')!, { role: body.role }, `create a user with role ${body.role}`);
      const problem = passwordProblem(body.password, body.username);
      if (problem) throw weak(problem);
      try {
        const user = await insertUser(db, {
          username: body.username,
          password_hash: await hashPassword(body.password),
          role: body.role,
        });
        return c.json(view(user), 201);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') {
          throw new ApiError(
            409,
            'conflict',
            'User exists',
            `User "${body.username}" already exists. Change it with PATCH /api/v1/users/${body.username}.`,
          );
        }
        throw err;
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/v1/users/{username}',
      tags: ['users'],
      summary: 'Change a role, disable or enable, or reset the password',
      ...admin,
      request: { params: z.object({ username: usernameSchema }), body: jsonBody(updateUserSchema) },
      responses: {
        200: { description: 'Changed', content: { 'application/json': { schema: userSchema } } },
        ...problems(400, 401, 403, 404, 409, 415, 422),
      },
    }),
    async (c) => {
      const { username } = c.req.valid('param');
      const body = c.req.valid('json');
      const user = await load(username);
      const caller = c.get('principal')!;
      checkWithinReach(caller, user, 'change');
      if (body.role !== undefined) checkGrant(caller, { role: body.role }, `make ${username} ${aRole(body.role)}`);
      if (body.password !== undefined) {
        const problem = passwordProblem(body.password, username);
        if (problem) throw weak(problem);
      }
      const demotes =
        user.role === 'admin' && ((body.role !== undefined && body.role !== 'admin') || body.disabled === true);
      if (demotes) await keepAnAdmin(username);
      const passwordHash = body.password !== undefined ? await hashPassword(body.password) : undefined;
      await db.transaction().execute(async (trx) => {
        await updateUser(trx, username, {
          ...(body.role !== undefined ? { role: body.role } : {}),
          ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
          ...(passwordHash ? { password_hash: passwordHash } : {}),
        });
        // A new password or a disabled account ends every session at once.
        if (passwordHash || body.disabled === true) {
          await endAllSessions(trx, username);
        }
      });
      await deps.auth.userChanged(user.id);
      return c.json(view(await load(username)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/users/{username}',
      tags: ['users'],
      summary: 'Delete a user (their tokens stop working at once)',
      ...admin,
      request: { params: z.object({ username: usernameSchema }) },
      responses: {
        200: {
          description: 'Deleted',
          content: { 'application/json': { schema: z.object({ username: z.string(), deleted: z.literal(true) }) } },
        },
        ...problems(401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const { username } = c.req.valid('param');
      const user = await load(username);
      checkWithinReach(c.get('principal')!, user, 'delete');
      if (user.role === 'admin' && !user.disabled) await keepAnAdmin(username);
      await deleteUser(db, username);
      await deps.auth.userChanged(user.id);
      return c.json({ username, deleted: true as const }, 200);
    },
  );

  return app;
}
