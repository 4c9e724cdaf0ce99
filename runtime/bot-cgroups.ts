import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Whether bots get cgroups of their own, and if not, why: said at start and in the README. */
export type CgroupSupport = { applies: true; dir: string } | { applies: false; reason: string };

const GROUP = 'codex32-bots';
const NEEDED = ['memory', 'cpu'] as const;
/** cpu.max's period, in microseconds (the kernel's default). */
const CPU_PERIOD_US = 100_000;

export interface CgroupPaths {
  /** /proc/self/mountinfo, where the cgroup v2 hierarchy is mounted. */
  mountinfo: string;
}

const PROC: CgroupPaths = { mountinfo: '/proc/self/mountinfo' };

/** Mount point of the cgroup v2 hierarchy, from mountinfo ("... - cgroup2 cgroup2 rw,..."), or null. */
export function cgroup2MountPoint(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right || right.split(' ')[0] !== 'cgroup2') continue;
    const mountPoint = left.split(' ')[4];
    if (mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  return null;
}

/**
 * Per-instance cgroups under `<cgroup2 mount>/codex32-bots`, each with
 * memory.max and cpu.max from the bot's resources: the kernel holds a bot
 * to its limits, and killing the group ends every process it started
 * (even one that left its process group). Set up only where the cgroup v2
 * hierarchy offers the memory and cpu controllers and the platform may
 * write it (root, outside a container without its own cgroup namespace);
 * elsewhere bots run in the worker's cgroup and the sampler's memory rule
 * is the guard.
 */
export class BotCgroups {
  private constructor(readonly dir: string) {}

  static async detect(paths: CgroupPaths = PROC): Promise<{ support: CgroupSupport; cgroups: BotCgroups | null }> {
    const refuse = (reason: string) => ({ support: { applies: false as const, reason }, cgroups: null });
    let mount: string | null;
    try {
      mount = cgroup2MountPoint(await fs.readFile(paths.mountinfo, 'utf8'));
    } catch (err) {
      return refuse(`cannot read ${paths.mountinfo}: ${(err as Error).message}`);
    }
    if (!mount) return refuse('no cgroup v2 hierarchy is mounted');
    const offered = await words(path.join(mount, 'cgroup.controllers'));
    const missing = NEEDED.filter((c) => !offered.includes(c));
    if (missing.length > 0) {
      return refuse(
        `the cgroup v2 hierarchy at ${mount} offers no ${missing.join(' or ')} controller (offered: ${offered.join(', ') || 'none'}); a host that mounts them on cgroup v1 cannot give bots cgroups of their own`,
      );
    }
    const dir = path.join(mount, GROUP);
    try {
      await enable(mount, NEEDED);
      await fs.mkdir(dir, { recursive: true });
      const optional = (await words(path.join(dir, 'cgroup.controllers'))).includes('pids') ? ['pids'] : [];
      await enable(dir, [...NEEDED, ...optional]);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'EBUSY'
          ? `${mount} holds processes, so it cannot hand controllers to a child (a container without its own cgroup namespace?)`
          : code === 'EACCES' || code === 'EROFS' || code === 'EPERM'
            ? `${mount} is not writable by the platform (${code})`
            : (err as Error).message;
      return refuse(`cannot set up ${dir}: ${why}`);
    }
    return { support: { applies: true, dir }, cgroups: new BotCgroups(dir) };
  }

  /** Creates the instance's cgroup with its limits; returns its cgroup.procs, for the spawner to move the new process into. */
  async create(
    instanceId: string,
    resources: { memory_limit_mb?: number | undefined; cpu_limit?: number | undefined },
  ): Promise<string> {
    const group = this.groupOf(instanceId);
    await fs.mkdir(group, { recursive: true });
    const memory =
      resources.memory_limit_mb !== undefined ? String(Math.round(resources.memory_limit_mb * 1024 * 1024)) : 'max';
    await fs.writeFile(path.join(group, 'memory.max'), memory);
    // Without swap accounting the file is absent; with it, a limited bot must not spill into swap instead.
    if (resources.memory_limit_mb !== undefined && existsSync(path.join(group, 'memory.swap.max')))
      await fs.writeFile(path.join(group, 'memory.swap.max'), '0');
    // One OOM kill takes the whole bot, not one of its processes, leaving the rest half-alive.
    if (existsSync(path.join(group, 'memory.oom.group'))) await fs.writeFile(path.join(group, 'memory.oom.group'), '1');
    const quota =
      resources.cpu_limit !== undefined
        ? String(Math.max(1000, Math.round(resources.cpu_limit * CPU_PERIOD_US)))
        : 'max';
    await fs.writeFile(path.join(group, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
    return path.join(group, 'cgroup.procs');
  }

  /**
   * The instance ended: kills whatever is left in its group (cgroup.kill),
   * removes the group, and tells whether the kernel's OOM killer ended it.
   * Synchronous, so that the exit it explains can be reported in the same step.
   */
  release(instanceId: string): { oomKilled: boolean } {
    const group = this.groupOf(instanceId);
    if (!existsSync(group)) return { oomKilled: false };
    let oomKilled = false;
    try {
      oomKilled = /^oom_kill (\d+)$/m.exec(readFileSync(path.join(group, 'memory.events'), 'utf8'))?.[1] !== '0';
    } catch {
      // no events file: nothing to tell
    }
    try {
      writeFileSync(path.join(group, 'cgroup.kill'), '1');
    } catch {
      // kernels before 5.14 have no cgroup.kill; the process group was signalled already
    }
    try {
      rmdirSync(group);
    } catch {
      // still emptying; the next launch of the bot or the next release tries again
    }
    return { oomKilled };
  }

  private groupOf(instanceId: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(instanceId) || instanceId.startsWith('.'))
      throw new Error(`instance id ${JSON.stringify(instanceId)} cannot name a cgroup`);
    return path.join(this.dir, instanceId);
  }
}

async function words(file: string): Promise<string[]> {
  try {
    return (await fs.readFile(file, 'utf8')).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Turns controllers on for a group's children (cgroup.subtree_control), those not on yet. */
async function enable(group: string, controllers: readonly string[]): Promise<void> {
  const on = await words(path.join(group, 'cgroup.subtree_control'));
  const wanted = controllers.filter((c) => !on.includes(c));
  if (wanted.length > 0)
    await fs.writeFile(path.join(group, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
}
