import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BotCgroups, cgroup2MountPoint } from '../runtime/bot-cgroups.js';
import { resolveBotUser } from '../runtime/bot-user.js';
import { LocalRuntime } from '../runtime/local-runtime.js';
import { createLogger } from '../lib/logger.js';
import { isAlive, makeBotsDir } from './helpers/platform.js';

/**
 * Per-bot cgroups. The kernel's cgroup v2 files are a boundary this machine
 * may not offer (here the memory and cpu controllers sit on cgroup v1), so
 * the hierarchy is a directory of the same files; the bot processes are real.
 */

const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' });

async function fakeHierarchy(controllers: string): Promise<{ root: string; mountinfo: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-cgroup-'));
  const mount = path.join(root, 'cgroup');
  await fs.mkdir(mount);
  await fs.writeFile(path.join(mount, 'cgroup.controllers'), `${controllers}\n`);
  await fs.writeFile(path.join(mount, 'cgroup.subtree_control'), '');
  const mountinfo = path.join(root, 'mountinfo');
  await fs.writeFile(
    mountinfo,
    [
      '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
      `35 25 0:30 / ${mount} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`,
      '',
    ].join('\n'),
  );
  return { root, mountinfo };
}

describe('per-bot cgroups', () => {
  const roots: string[] = [];
  afterAll(async () => {
    for (const r of roots) await fs.rm(r, { recursive: true, force: true });
  });

  it('finds the cgroup v2 mount in mountinfo', () => {
    expect(cgroup2MountPoint('35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n')).toBe('/sys/fs/cgroup');
    expect(cgroup2MountPoint('40 25 0:35 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n')).toBeNull();
    expect(cgroup2MountPoint('35 25 0:30 / /mnt/my\\040cgroups rw shared:1 - cgroup2 none rw\n')).toBe(
      '/mnt/my cgroups',
    );
  });

  it('sets up where memory and cpu are offered, and says why not elsewhere', async () => {
    const bare = await fakeHierarchy('hugetlb');
    roots.push(bare.root);
    const refused = await BotCgroups.detect({ mountinfo: bare.mountinfo });
    expect(refused.cgroups).toBeNull();
    expect(refused.support).toEqual({
      applies: false,
      reason: expect.stringMatching(/offers no memory or cpu controller \(offered: hugetlb/),
    });

    const full = await fakeHierarchy('cpuset cpu io memory pids');
    roots.push(full.root);
    const { support, cgroups } = await BotCgroups.detect({ mountinfo: full.mountinfo });
    expect(support).toEqual({ applies: true, dir: path.join(full.root, 'cgroup', 'codex32-bots') });
    expect(cgroups).not.toBeNull();
    expect(readFileSync(path.join(full.root, 'cgroup', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu');
    expect(readFileSync(path.join(full.root, 'cgroup', 'codex32-bots', 'cgroup.subtree_control'), 'utf8')).toBe(
      '+memory +cpu',
    );

    // This machine's own verdict, whichever it is, comes with a reason when it does not apply.
    const here = await BotCgroups.detect();
    if (!here.support.applies) expect(here.support.reason.length).toBeGreaterThan(10);
    console.log(`cgroups on this machine: ${JSON.stringify(here.support)}`);
  });

  describe('with a runtime launching real processes', () => {
    let root: string;
    let rt: LocalRuntime;
    let group: string;
    beforeAll(async () => {
      const h = await fakeHierarchy('cpu memory');
      root = h.root;
      roots.push(root);
      const { cgroups, support } = await BotCgroups.detect({ mountinfo: h.mountinfo });
      group = (support as { dir: string }).dir;
      rt = new LocalRuntime({
        botsDir: await makeBotsDir(root),
        runDir: path.join(root, 'run'),
        botLogsDir: path.join(root, 'logs'),
        logMaxBytes: 1024 * 1024,
        logFiles: 2,
        baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        user: resolveBotUser(undefined, { logger, searchPath: process.env.PATH }),
        cgroups,
        logger,
      });
    });
    afterAll(async () => {
      await rt?.close();
    });

    it('puts each instance in a cgroup of its own with its limits, and kills the group when it ends', async () => {
      const instanceId = randomUUID();
      const inst = await rt.launch({
        botId: 'cg-bot',
        instanceId,
        blueprint: 'sleeper.mjs',
        image: null,
        args: [],
        env: {},
        resources: { memory_limit_mb: 64, cpu_limit: 0.5 },
      });
      const dir = path.join(group, instanceId);
      expect(readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')).toBe(String(inst.pid));
      expect(readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe(String(64 * 1024 * 1024));
      expect(readFileSync(path.join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000');
      await rt.stop(inst, 2_000);
      expect(isAlive(inst.pid!)).toBe(false);
      expect(readFileSync(path.join(dir, 'cgroup.kill'), 'utf8')).toBe('1');

      const unlimited = randomUUID();
      const other = await rt.launch({
        botId: 'cg-free',
        instanceId: unlimited,
        blueprint: 'sleeper.mjs',
        image: null,
        args: [],
        env: {},
        resources: {},
      });
      expect(readFileSync(path.join(group, unlimited, 'memory.max'), 'utf8')).toBe('max');
      expect(readFileSync(path.join(group, unlimited, 'cpu.max'), 'utf8')).toBe('max 100000');
      await rt.stop(other, 2_000);
    });

    it('an instance the kernel killed for memory ends as oom_killed', async () => {
      const instanceId = randomUUID();
      const inst = await rt.launch({
        botId: 'cg-oom',
        instanceId,
        blueprint: 'sleeper.mjs',
        image: null,
        args: [],
        env: {},
        resources: { memory_limit_mb: 32 },
      });
      const ended = new Promise((resolve) => rt.onEvent((e) => e.instanceId === instanceId && resolve(e)));
      // What the kernel writes when its OOM killer ends a process of the group.
      await fs.writeFile(
        path.join(group, instanceId, 'memory.events'),
        'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n',
      );
      process.kill(inst.pid!, 'SIGKILL');
      expect(await ended).toMatchObject({
        kind: 'oom_killed',
        signal: 'SIGKILL',
        reason: expect.stringMatching(/over its memory limit/),
      });
    });
  });
});
