import { ApiError } from '../views/problem.js';
import { permissionsOf, type Permission, type Role } from '../../lib/permissions.js';
import type { Principal } from './principal.js';

/** What a grant would hand over: a role's permissions, or a list of them. */
export type Grant = { role: Role } | { permissions: readonly Permission[] };

const wanted = (grant: Grant): ReadonlySet<Permission> =>
  'role' in grant ? permissionsOf(grant.role) : new Set(grant.permissions);

/** The permissions of `grant` that `grantor` does not hold itself (none: the grant is within reach). */
export function beyondReach(grantor: Principal, grant: Grant): Permission[] {
  return [...wanted(grant)].filter((p) => !grantor.permissions.has(p));
}

/**
 * Refuses (403) a grant that exceeds the grantor's own permissions: nobody
 * hands over more than they hold, so a narrow key cannot mint a wider key
 * or make a wider user. An administrator holds every permission, so any
 * grant is within an administrator's reach. `what` names the act in the
 * refusal ("mint a key with role admin").
 */
export function checkGrant(grantor: Principal, grant: Grant, what: string): void {
  const missing = beyondReach(grantor, grant);
  if (missing.length === 0) return;
  const held =
    grantor.type === 'user' ? `your role ${grantor.role}` : `your ${grantor.role ? `${grantor.role} ` : ''}key`;
  throw new ApiError(
    403,
    'forbidden',
    'Beyond your reach',
    `You cannot ${what}: that reaches ${missing.map((p) => `"${p}"`).join(', ')}, which ${held} does not hold. Nobody grants or manages more than they hold themselves; ask an administrator. Nothing was changed.`,
    missing.map((p) => ({ path: p, message: 'not held by the caller' })),
  );
}
