import fs from 'node:fs/promises';
import { parseProcStat } from '../runtime/proc.js';
import { mib } from './stats.js';
import { sleep } from './util.js';

/** VmRSS and VmHWM (peak) of a process from /proc/<pid>/status, in bytes; null when it is gone. */
export async function readMemory(pid: number): Promise<{ rss: number; peak: number } | null> {
  let text: string;
  try {
    text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Sums of VmRSS and of PSS over the processes that are still there (VmRSS counts shared pages once per process). */
export async function totalRss(pids: readonly number[]): Promise<{ count: number; bytes: number; pssBytes: number }> {
  let count = 0;
  let bytes = 0;
  let pssBytes = 0;
  for (const pid of pids) {
    const m = await readMemory(pid);
    if (m && Number.isFinite(m.rss)) {
      count++;
      bytes += m.rss;
      pssBytes += (await readPss(pid)) ?? m.rss;
    }
  }
  return { count, bytes, pssBytes };
}

export interface HostMemory {
  role: string;
  pid: number;
  rssMiB: number;
  peakMiB: number;
}

/** VmRSS and VmHWM of each process hosting the platform. */
export async function hostMemory(hosts: ReadonlyArray<{ role: string; pid: number }>): Promise<HostMemory[]> {
  const out: HostMemory[] = [];
  for (const h of hosts) {
    const m = await readMemory(h.pid);
    out.push({ role: h.role, pid: h.pid, rssMiB: mib(m?.rss ?? Number.NaN), peakMiB: mib(m?.peak ?? Number.NaN) });
  }
  return out;
}

export const formatHostMemory = (m: HostMemory): [string, string] => [
  `${m.role} (pid ${m.pid}) VmRSS`,
  `${m.rssMiB} MiB (peak ${m.peakMiB} MiB)`,
];

async function pgrpOf(pid: number): Promise<number | null> {
  try {
    const stat = parseProcStat(pid, await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
    return stat.state === 'Z' || stat.state === 'X' ? null : stat.pgrp;
  } catch {
    return null;
  }
}

/**
 * Bot processes of this benchmark: the local runtime starts every bot with its
 * working directory set to the bots directory, which is a temporary directory
 * of this run, so the cwd identifies them without touching anything else.
 */
export async function findBotProcesses(botsDirReal: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if ((await fs.readlink(`/proc/${pid}/cwd`)) !== botsDirReal) continue;
    } catch {
      continue; // gone, or not ours to read
    }
    if ((await pgrpOf(pid)) !== null) found.push(pid);
  }
  return found;
}

/** Last resort: SIGKILL the process group of every bot process still there; returns how many there were. */
export async function killLeftovers(botsDirReal: string, timeoutMs = 5_000): Promise<number> {
  const left = await findBotProcesses(botsDirReal);
  for (const pid of left) {
    const pgrp = await pgrpOf(pid);
    try {
      // Bots lead their own process group; never signal a group that is not theirs.
      if (pgrp === pid) process.kill(-pid, 'SIGKILL');
      else process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && (await findBotProcesses(botsDirReal)).length > 0) await sleep(50);
  return left.length;
}

/** Proportional set size (shared pages split between their users) from /proc/<pid>/smaps_rollup, in bytes; null when unreadable. */
export async function readPss(pid: number): Promise<number | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = /^Pss:\s+(\d+) kB/m.exec(text)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** The direct children of a process (the platform's spawner, say), by the parent pid in /proc/<pid>/stat. */
export async function childPids(parent: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(Number(entry), await fs.readFile(`/proc/${entry}/stat`, 'utf8'));
      if (stat.ppid === parent && stat.state !== 'Z') found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
