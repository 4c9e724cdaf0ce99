import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';

/** Linux /proc readers for the local runtime. CLK_TCK is 100 on every Linux ABI Node supports. */
const CLK_TCK = 100;
const PAGE_SIZE = 4096;

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Process start time in clock ticks since boot: with the pid, identifies one process across pid reuse. */
  startTicks: string;
  cpuSeconds: number;
  rssBytes: number;
}

/** One /proc/<pid>/stat line, read: the one parser of it (the runtime, the spawner, benchmarks and tests use it). */
export function parseProcStat(pid: number, text: string): ProcStat {
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  const at = (n: number) => fields[n - 3] ?? '0';
  return {
    pid,
    state: at(3),
    ppid: Number(at(4)),
    pgrp: Number(at(5)),
    session: Number(at(6)),
    startTicks: at(22),
    cpuSeconds: (Number(at(14)) + Number(at(15))) / CLK_TCK,
    rssBytes: Number(at(24)) * PAGE_SIZE,
  };
}

export async function readProcStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(pid, await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The same, synchronously: for the spawner, which records a new process's
 * start time in the very step that spawned it, and for exit handlers,
 * which cannot wait.
 */
export function readProcStatSync(pid: number): ProcStat | null {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Alive means: the pid exists, is not a zombie, and started when we recorded it (so it is not a reused pid). */
export async function isSameProcessAlive(pid: number, startTicks: string | null): Promise<boolean> {
  const stat = await readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTicks === null || stat.startTicks === startTicks;
}

let bootTimeMs: number | undefined;
/** Boot time from /proc/uptime (10 ms precision; /proc/stat's btime is whole seconds). */
export async function bootTime(): Promise<number> {
  if (bootTimeMs === undefined) {
    const uptime = Number((await fs.readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    bootTimeMs = Date.now() - uptime * 1000;
  }
  return bootTimeMs;
}

export async function processStartedAt(startTicks: string): Promise<Date> {
  return new Date((await bootTime()) + (Number(startTicks) * 1000) / CLK_TCK);
}

/** CPU time, memory and start of a recorded process; null when it is gone (or the pid now names another process). */
export async function readInstanceStats(
  pid: number | null,
  startTicks: string | null,
): Promise<{ cpuSeconds: number; rssBytes: number; startedAt: Date } | null> {
  if (pid === null) return null;
  const stat = await readProcStat(pid);
  if (!stat || stat.state === 'Z' || (startTicks !== null && stat.startTicks !== startTicks)) return null;
  return { cpuSeconds: stat.cpuSeconds, rssBytes: stat.rssBytes, startedAt: await processStartedAt(stat.startTicks) };
}

/** The TCP ports a process listens on (IPv4 and IPv6), from its socket descriptors and /proc/net/tcp{,6}. */
export async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await fs.readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXADDR:HEXPORT; st 0A is LISTEN; the inode is field 10.
      if (f[3] === '0A' && f[9] && inodes.has(f[9])) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
