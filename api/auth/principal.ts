import type { Permission, Role } from './permissions.js';

/** Who is calling: a user (by token) or an API key. */
export type Principal =
  | { type: 'user'; id: string; username: string; role: Role; permissions: ReadonlySet<Permission> }
  | { type: 'api-key'; id: string; name: string; role: Role | null; permissions: ReadonlySet<Permission> };
