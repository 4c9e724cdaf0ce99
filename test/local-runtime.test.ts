import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateIfLarge } from '../runtime/log-files.js';
import { LocalRuntime, type LocalRuntimeOptions } from '../runtime/local-runtime.js';
import { readProcStatSync } from '../runtime/proc.js';
import { resolveBotUser } from '../runtime/bot-user.js';
import type { LaunchRequest, RuntimeEvent } from '../runtime/types.js';
import { createLogger } from '../lib/logger.js';
import { isAlive, makeBotsDir, waitFor } from './helpers/platform.js';

const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' });

describe('local runtime on real processes', () => {
  let root: string;
  let opts: LocalRuntimeOptions;
  const runtimes: LocalRuntime[] = [];
  const pids = new Set<number>();

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-rt-'));
    opts = {
      botsDir: await makeBotsDir(root),
      runDir: path.join(root, 'run'),
      botLogsDir: path.join(root, 'logs'),
      logMaxBytes: 1024 * 1024,
      logFiles: 3,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      platformEnv: { CODEX32_API_URL: 'http://127.0.0.1:1' },
      user: resolveBotUser(undefined, { logger, searchPath: process.env.PATH }),
      cgroups: null,
      logger,
    };
  });
  afterAll(async () => {
    for (const rt of runtimes) await rt.close();
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await fs.rm(root, { recursive: true, force: true });
  });

  const runtime = () => {
    const rt = new LocalRuntime(opts);
    runtimes.push(rt);
    return rt;
  };
  const request = (blueprint: string, extra: Partial<LaunchRequest> = {}): LaunchRequest => ({
    botId: `rt-${randomUUID().slice(0, 8)}`,
    instanceId: randomUUID(),
    blueprint,
    image: null,
    args: [],
    env: {},
    resources: {},
    ...extra,
  });
  const nextExit = (rt: LocalRuntime, instanceId: string) =>
    new Promise<RuntimeEvent>((resolve) => {
      const off = rt.onEvent((e) => {
        if (e.instanceId === instanceId) {
          off();
          resolve(e);
        }
      });
    });

  it('runs each bot in its own session with the interpreter its extension names, without a shell or the platform environment', async () => {
    const rt = runtime();
    for (const [blueprint, interpreter, marker] of [
      ['sleeper.mjs', /^node/, 'up '],
      ['sleeper.py', /^python3/, 'py up'],
      ['nested/inner.sh', /^sh$/, null],
      // No known extension: the file runs itself, and the kernel reads its #! line.
      ['runnable', /^sh$/, 'runnable'],
    ] as const) {
      const req = request(blueprint, { env: { GREETING: 'hi' }, args: ['--flag', 'a b'] });
      const inst = await rt.launch(req);
      pids.add(inst.pid!);
      // Interpreters may re-exec themselves (pyenv shims do): look once the bot has spoken.
      if (marker)
        await waitFor(
          async () => (await fs.readFile(inst.logPath!, 'utf8')).includes(marker),
          `${blueprint} output`,
          10_000,
        );
      else await new Promise((r) => setTimeout(r, 100));
      const cmdline = readFileSync(`/proc/${inst.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(path.basename(cmdline[0]!)).toMatch(interpreter);
      expect(cmdline).toContain(await fs.realpath(path.join(opts.botsDir, blueprint)));
      // No shell in between: an argument with a space arrives whole.
      expect(cmdline.slice(-2)).toEqual(['--flag', 'a b']);
      const stat = readProcStatSync(inst.pid!)!;
      expect(stat.pgrp).toBe(inst.pid); // process group = its own pid
      expect(stat.session).toBe(inst.pid); // session = its own pid
      const environ = readFileSync(`/proc/${inst.pid}/environ`, 'utf8').split('\0').filter(Boolean);
      const names = environ.map((e) => e.split('=')[0]);
      expect(environ).toContain(`CODEX32_BOT_ID=${req.botId}`);
      expect(environ).toContain(`CODEX32_INSTANCE_ID=${req.instanceId}`);
      expect(environ).toContain('GREETING=hi');
      expect(names).not.toContain('DATABASE_URL');
      expect(names).not.toContain('API_SECRET_KEY');
      await rt.stop(inst, 2_000);
      expect(isAlive(inst.pid!)).toBe(false);
    }
  });

  it('a retried launch of the same instance returns the same process; a new instance replaces a stray one', async () => {
    const rt = runtime();
    const req = request('sleeper.mjs');
    const [a, b] = await Promise.all([rt.launch(req), rt.launch(req)]);
    pids.add(a.pid!);
    expect(b.pid).toBe(a.pid);
    // A fresh runtime (a worker that restarted mid-activity) finds it through the pid file.
    const again = await runtime().launch(req);
    expect(again.pid).toBe(a.pid);

    const next = await rt.launch({ ...req, instanceId: randomUUID() });
    pids.add(next.pid!);
    expect(next.pid).not.toBe(a.pid);
    await waitFor(async () => !isAlive(a.pid!), 'stray instance gone', 5_000);
    await rt.stop(next, 2_000);
  });

  it('reports an exit as an event, with code or signal', async () => {
    const rt = runtime();
    const crash = request('crash.sh');
    const exit = nextExit(rt, crash.instanceId);
    await rt.launch(crash);
    expect(await exit).toMatchObject({
      type: 'exited',
      botId: crash.botId,
      exitCode: 3,
      signal: null,
      reason: 'exited with code 3',
      seenBy: 'parent',
    });

    const killed = request('sleeper.mjs');
    const inst = await rt.launch(killed);
    const killedExit = nextExit(rt, killed.instanceId);
    process.kill(inst.pid!, 'SIGKILL');
    expect(await killedExit).toMatchObject({ exitCode: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
  });

  it('a runtime that did not start the process adopts it and still sees its exit as an event', async () => {
    const first = runtime();
    const req = request('sleeper.py');
    const inst = await first.launch(req);
    pids.add(inst.pid!);
    await first.close();

    const second = runtime();
    expect(await second.adopt(inst)).toBe(true);
    expect(second.isWatching(req.instanceId)).toBe(true);
    const exit = nextExit(second, req.instanceId);
    process.kill(inst.pid!, 'SIGKILL');
    const event = await exit;
    expect(event.seenBy).toBe('fifo');
    expect(event.reason).toMatch(/process ended/);

    // A pid that now belongs to another process (different start time) is not adopted.
    const other = await second.launch(request('sleeper.mjs'));
    pids.add(other.pid!);
    expect(await runtime().adopt({ ...other, processStartTicks: '1' })).toBe(false);
    await second.stop(other, 2_000);
  });

  it('an adopted bot that closed its exit FIFO is still seen to end', async () => {
    const first = runtime();
    const req = request('closes-fd3.sh');
    const inst = await first.launch(req);
    pids.add(inst.pid!);
    await waitFor(
      async () => (await fs.readlink(`/proc/${inst.pid}/fd/3`).catch(() => null)) === null,
      'fd 3 closed',
      5_000,
    );
    await first.close();
    const second = runtime();
    expect(await second.adopt(inst)).toBe(true);
    const exit = nextExit(second, req.instanceId);
    process.kill(-inst.pid!, 'SIGKILL');
    expect((await exit).seenBy).toBe('liveness-check');
  });

  it('when the spawner process dies, its bots keep running and are still watched', async () => {
    const rt = runtime();
    const req = request('sleeper.mjs');
    const inst = await rt.launch(req);
    pids.add(inst.pid!);
    const spawnerPid = readProcStatSync(inst.pid!)!.ppid;
    expect(readFileSync(`/proc/${spawnerPid}/cmdline`, 'utf8')).toContain('spawner-process.js');
    process.kill(spawnerPid, 'SIGKILL');
    await waitFor(async () => !isAlive(spawnerPid), 'spawner gone', 5_000);
    expect(isAlive(inst.pid!)).toBe(true);
    expect(rt.isWatching(req.instanceId)).toBe(true);
    const exit = nextExit(rt, req.instanceId);
    process.kill(inst.pid!, 'SIGKILL');
    expect((await exit).type).toBe('exited');
    // The next launch brings up a new spawner.
    const next = await rt.launch(request('sleeper.mjs'));
    pids.add(next.pid!);
    expect(isAlive(next.pid!)).toBe(true);
    await rt.stop(next, 2_000);
  });

  it('stop sends SIGTERM, then SIGKILL after the grace period', async () => {
    const rt = runtime();
    const polite = await rt.launch(request('sleeper.mjs'));
    await waitFor(
      async () => (await fs.readFile(polite.logPath!, 'utf8')).includes('up '),
      'bot ready for SIGTERM',
      10_000,
    );
    const t0 = performance.now();
    const politeExit = await rt.stop(polite, 5_000);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(politeExit).toMatchObject({ exitCode: 0, signal: null, reason: 'stopped on request' });

    const stubborn = await rt.launch(request('stubborn.sh'));
    pids.add(stubborn.pid!);
    await new Promise((r) => setTimeout(r, 200));
    const t1 = performance.now();
    const forced = await rt.stop(stubborn, 500);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(450);
    expect(forced.signal).toBe('SIGKILL');
    expect(isAlive(stubborn.pid!)).toBe(false);
    // Stopping what is already gone is fine.
    expect((await rt.stop(stubborn, 500)).reason).toMatch(/stopped|already gone/);
  });

  it('writes stdout and stderr to the bot log, and rotates by copy and truncate', async () => {
    const rt = runtime();
    const req = request('sleeper.mjs');
    const inst = await rt.launch(req);
    await waitFor(
      async () => (await fs.readFile(inst.logPath!, 'utf8')).includes('up '),
      'bot output in its log',
      5_000,
    );
    await rt.stop(inst, 2_000);

    const file = path.join(root, 'rotate.log');
    await fs.writeFile(file, 'a'.repeat(2048));
    expect(await rotateIfLarge(file, 4096, 2)).toBe(false);
    for (let i = 1; i <= 3; i++) {
      await fs.writeFile(file, String(i).repeat(5000));
      expect(await rotateIfLarge(file, 4096, 2)).toBe(true);
    }
    expect((await fs.stat(file)).size).toBe(0);
    expect((await fs.readFile(`${file}.1`, 'utf8'))[0]).toBe('3');
    expect((await fs.readFile(`${file}.2`, 'utf8'))[0]).toBe('2');
    await expect(fs.stat(`${file}.3`)).rejects.toThrow();
  });

  it('refuses what it cannot run with a reason', async () => {
    const rt = runtime();
    await expect(rt.launch(request('../outside.sh'))).rejects.toThrow(/outside the bots directory/);
    await expect(rt.launch(request('notes.txt'))).rejects.toThrow(/not runnable/);
    await expect(rt.launch({ ...request('x'), blueprint: null, image: 'a/b:1' })).rejects.toThrow(
      /BOT_RUNTIME=kubernetes/,
    );
  });
});
