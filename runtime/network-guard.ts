import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import type { BotUser } from './bot-user.js';
import { findExecutable } from './find-executable.js';

/** A service of the platform that bots must not reach. */
export interface Endpoint {
  what: string;
  host: string;
  port: number;
}

export type GuardStatus = { applied: true; chain: string; rules: string[] } | { applied: false; reason: string };

const TABLE = 'inet codex32';

/** One chain per installation (its data directory), so that installations on one host leave each other's rules alone. */
export function guardChain(installation: string): string {
  return `bots_${createHash('sha256').update(installation).digest('hex').slice(0, 12)}`;
}

function runNft(nft: string, script: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = execFile(nft, ['-f', '-'], { timeout: 10_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(stderr.trim() || err.message)) : resolve(),
    );
    child.stdin?.end(script);
  });
}

/** `host:port`, `[v6]:port`, or a URL with a host (its default port when it names none); null when there is no TCP endpoint in it. */
export function parseEndpoint(what: string, address: string, defaultPort?: number): Endpoint | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      return null;
    }
    const port = url.port ? Number(url.port) : defaultPort;
    if (!url.hostname || port === undefined) return null;
    return { what, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return m ? { what, host: m[1]!, port: Number(m[2]) } : null;
}

function isLocalAddress(address: string): boolean {
  if (address === '::1' || address.startsWith('127.') || address === '0.0.0.0' || address === '::') return true;
  return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address));
}

/**
 * Keeps bots off the platform's own services (the Temporal frontend and the
 * dev server's other ports, PostgreSQL, Redis): an nftables table that
 * rejects connections from the bot user to them, on every local address
 * for a service of this machine, on its addresses for one elsewhere. The
 * API stays reachable: bots report to it with their own token. Bots that
 * share the platform's user cannot be told apart from it, and are not
 * guarded. The installation's chain is rewritten, atomically, at every
 * worker start, and stays when the worker stops: the bots run on.
 */
export async function guardPlatformEndpoints(
  user: BotUser,
  endpoints: Endpoint[],
  opts: { searchPath: string | undefined; installation: string },
): Promise<GuardStatus> {
  if (user.sharedWithPlatform)
    return {
      applied: false,
      reason: `bots run as the platform's own user (${user.name}), so no rule can tell them apart`,
    };
  const nft = findExecutable('nft', opts.searchPath);
  if (!nft) return { applied: false, reason: 'nft (nftables) is not installed: apt-get install nftables' };

  const localPorts = new Set<number>();
  const remote: string[] = [];
  for (const e of endpoints) {
    let addresses: string[];
    if (net.isIP(e.host)) addresses = [e.host];
    else if (e.host === 'localhost') addresses = ['127.0.0.1'];
    else addresses = (await lookup(e.host, { all: true }).catch(() => [])).map((a) => a.address);
    if (addresses.length === 0) return { applied: false, reason: `cannot resolve ${e.host} (${e.what})` };
    for (const address of addresses) {
      if (isLocalAddress(address)) localPorts.add(e.port);
      else
        remote.push(
          `meta skuid ${user.uid} ${net.isIPv6(address) ? 'ip6' : 'ip'} daddr ${address} tcp dport ${e.port} reject with tcp reset`,
        );
    }
  }
  const rules = [
    ...(localPorts.size
      ? [
          `meta skuid ${user.uid} fib daddr type local tcp dport { ${[...localPorts].sort((a, b) => a - b).join(', ')} } reject with tcp reset`,
        ]
      : []),
    ...new Set(remote),
  ];
  const chain = guardChain(opts.installation);
  // One transaction: the chain is declared (if new), emptied and filled, so it is never seen half-written.
  const script = [
    `add table ${TABLE}`,
    `add chain ${TABLE} ${chain} { type filter hook output priority 0; policy accept; }`,
    `flush chain ${TABLE} ${chain}`,
    ...rules.map((r) => `add rule ${TABLE} ${chain} ${r}`),
    '',
  ].join('\n');
  try {
    await runNft(nft, script);
  } catch (err) {
    return { applied: false, reason: `nft refused the rules: ${(err as Error).message}` };
  }
  return { applied: true, chain: `${TABLE} ${chain}`, rules };
}

/** Removes an installation's chain (an installation taken down for good; tests). Bots of a running installation would be unguarded. */
export async function removeGuard(installation: string, searchPath: string | undefined): Promise<void> {
  const nft = findExecutable('nft', searchPath);
  if (!nft) return;
  const chain = guardChain(installation);
  await runNft(nft, `add table ${TABLE}\nadd chain ${TABLE} ${chain}\ndelete chain ${TABLE} ${chain}\n`).catch(
    () => undefined,
  );
}
