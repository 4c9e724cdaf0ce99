import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

const normalise = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);

/**
 * The caller's address. X-Forwarded-For is believed only when the connection
 * comes from a configured trusted proxy, and then only up to the first hop
 * that is not one: anyone can write that header.
 */
export function createClientAddress(trustedProxies: readonly string[]): (c: Context) => string | null {
  const trusted = new Set(trustedProxies.map(normalise));
  return (c) => {
    let socket: string | undefined;
    try {
      socket = getConnInfo(c).remote.address;
    } catch {
      return null;
    }
    if (!socket) return null;
    const peer = normalise(socket);
    if (!trusted.has(peer)) return peer;
    const hops = (c.req.header('X-Forwarded-For') ?? '')
      .split(',')
      .map((h) => normalise(h.trim()))
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
    return peer;
  };
}
