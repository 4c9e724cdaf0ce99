import type { Permission, Role } from '../../lib/permissions.js';

/** Who is calling: a user (by token) or an API key. */
export type Principal =
  | { type: 'user'; id: string; username: string; role: Role; permissions: ReadonlySet<Permission> }
  | {
      type: 'api-key';
      id: string;
      name: string;
      role: Role | null;
      permissions: ReadonlySet<Permission>;
      /** The only bots the key may act on (minted with `bots`); absent: every bot its permissions reach. */
      bots?: ReadonlySet<string>;
    }
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

/** The bots a principal is limited to, or null when its permissions reach every bot. */
export function botScope(p: Principal): ReadonlySet<string> | null {
  return p.type === 'api-key' && p.bots ? p.bots : null;
}

/** Whether the principal may act on `botId` at all (its permissions say how). */
export function reachesBot(p: Principal, botId: string): boolean {
  const scope = botScope(p);
  return scope === null || scope.has(botId);
}
