/**
 * The one permission table. Every route (and later every chat and voice
 * command) names the permission it needs; roles and scoped API keys are sets
 * of permissions. `GET /api/v1/auth/permissions` shows the caller's set, and the
 * README prints this table.
 */

import type { FleetEvent } from './fleet-events.js';

export const ROLES = ['admin', 'operator', 'viewer', 'user'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  'bots:read': 'list and read bots, their status and figures',
  'bots:create': 'register bots',
  'bots:update': 'change bot specs',
  'bots:delete': 'delete bots',
  'bots:operate': 'start, stop and restart bots',
  'bots:logs': "read bots' output (what a bot prints may be sensitive)",
  'incidents:read': 'list incidents',
  'incidents:manage': 'acknowledge and resolve incidents',
  'deployments:create': 'trigger deployments (CI)',
  'deployments:read': 'read deployments',
  'artifacts:write': 'upload builds (artifacts) for deployments',
  'chat:ask': 'ask questions over chat',
  'users:manage': 'create, change and delete users',
  'api-keys:manage': 'mint and revoke API keys',
  'audit:read': 'read the audit log',
  'metrics:read': 'read platform metrics',
} as const;
export type Permission = keyof typeof PERMISSIONS;

const all = Object.keys(PERMISSIONS) as Permission[];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: all,
  operator: [
    'bots:read',
    'bots:logs',
    'bots:create',
    'bots:update',
    'bots:delete',
    'bots:operate',
    'incidents:read',
    'incidents:manage',
    'deployments:create',
    'deployments:read',
    'artifacts:write',
    'chat:ask',
    'metrics:read',
  ],
  viewer: ['bots:read', 'bots:logs', 'incidents:read', 'deployments:read', 'chat:ask', 'metrics:read'],
  user: ['bots:read', 'chat:ask'],
};

/** What a fleet event's (or the figures') receiver must hold: the permission REST asks for the same facts. */
export const EVENT_PERMISSIONS: Record<FleetEvent['kind'] | 'figures', Permission> = {
  status: 'bots:read',
  figures: 'bots:read',
  incident: 'incidents:read',
  deployment: 'deployments:read',
  deleted: 'bots:read',
};

/**
 * Presets for API keys: a named set of permissions for a job. `deployer` is
 * what a CI pipeline needs to hand over builds and follow them, and nothing
 * more (minted with `bots`, only for those bots).
 */
export const KEY_PRESETS = {
  deployer: ['deployments:create', 'deployments:read', 'artifacts:write', 'bots:read'],
} as const satisfies Record<string, readonly Permission[]>;
export type KeyPreset = keyof typeof KEY_PRESETS;

export function permissionsOf(role: Role): ReadonlySet<Permission> {
  return new Set(ROLE_PERMISSIONS[role]);
}

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSIONS, value);
}
