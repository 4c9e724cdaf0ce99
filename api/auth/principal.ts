import type { Permission, Role } from '../../lib/permissions.js';

/** Who is calling: a user (by token) or an API key. */
export type Principal =
  | { type: 'user'; id: string; username: string; role: Role; permissions: ReadonlySet<Permission> }
  | { type: 'api-key'; id: string; name: string; role: Role | null; permissions: ReadonlySet<Permission> }
  /** A bot instance with its CODEX32_BOT_TOKEN: no permissions, only its own /api/v1/self. */
  | { type: 'bot'; id: string; botId: string; instanceId: string; role: null; permissions: ReadonlySet<Permission> };

/** The name a principal goes by in records: the user name, or the key's name. */
export function principalName(p: Principal): string {
  return p.type === 'user' ? p.username : p.type === 'bot' ? `bot:${p.botId}` : p.name;
}

/** Who did it, for records that keep one string: the user name, or "api-key:<name>". */
export function recordedAs(p: Principal): string {
  return p.type === 'user' ? p.username : p.type === 'bot' ? `bot:${p.botId}` : `api-key:${p.name}`;
}
