import { chmodSync, constants, mkdirSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/logger.js';
import { BlueprintError, resolveBlueprint } from './blueprint.js';
import type { BotCgroups } from './bot-cgroups.js';
import { accessProblem, botUserEnv, commandAsBotUser, type BotUser } from './bot-user.js';
import { botLogPath, rotateIfLarge, tailLines } from './log-files.js';
import { Spawner } from './spawner.js';
import { isSameProcessAlive, readInstanceStats } from './proc.js';
import {
  LaunchError,
  type BotRuntime,
  type InstanceExit,
  type InstanceRef,
  type InstanceStats,
  type LaunchedInstance,
  type LaunchRequest,
  type RuntimeEvent,
} from './types.js';
import { WatchedInstances, type WatchedInstance } from './watched-instances.js';

export interface LocalRuntimeOptions {
  botsDir: string;
  /** Pid files and exit FIFOs, one folder per bot; must survive control-plane restarts. */
  runDir: string;
  botLogsDir: string;
  logMaxBytes: number;
  logFiles: number;
  /** The environment every bot starts from (PATH, HOME, locale); the platform's own secrets are never passed. */
  baseEnv: Record<string, string>;
  /** Extra variables for every bot (e.g. the API address), below the bot's own env. */
  platformEnv?: Record<string, string>;
  /** Who bots run as (see resolveBotUser): never the platform's root. */
  user: BotUser;
  /** Per-instance cgroups with the bot's limits, where cgroup v2 allows; null: none. */
  cgroups: BotCgroups | null;
  logger: Logger;
  logRotationIntervalMs?: number;
}

interface PidFile extends LaunchedInstance {
  fifoPath: string;
}

interface Watched extends WatchedInstance {
  instance: PidFile;
  /** Started by our spawner, which reports the exit status; otherwise adopted and watched through its FIFO. */
  spawned: boolean;
  fifoReader?: net.Socket;
  fallbackTimer?: NodeJS.Timeout;
  /** Settles once an adopted instance is watched (its FIFO open, or a liveness check chosen). */
  ready?: Promise<void>;
}

const refOf = ({ instance: i }: Watched): InstanceRef => ({
  botId: i.botId,
  instanceId: i.instanceId,
  pid: i.pid,
  processStartTicks: i.processStartTicks,
});

/**
 * Bots as child processes of nobody: each runs in its own session and process
 * group, writes to its own log file and holds the write end of a per-instance
 * FIFO on fd 3. The FIFO is how a later worker, which is not the bot's parent,
 * still learns of its exit as an event: the read end reports EOF when the last
 * writer, the bot, is gone.
 */
export class LocalRuntime implements BotRuntime {
  readonly kind = 'local' as const;
  /** Ended instances are kept a minute, so that a late stop() sees the exit. */
  private readonly watched = new WatchedInstances<Watched>(refOf, 60_000);
  private readonly botLocks = new Map<string, Promise<unknown>>();
  private readonly host = os.hostname();
  private readonly rotationTimer: NodeJS.Timeout;

  private readonly spawner: Spawner;
  /** HOME, USER, LOGNAME and a PATH of what the bot user can reach. */
  private readonly userEnv: Record<string, string>;

  constructor(private readonly opts: LocalRuntimeOptions) {
    // Bots run as another user: pid files, FIFOs and every bot's log are the platform's alone.
    for (const dir of [opts.runDir, opts.botLogsDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    }
    this.userEnv = botUserEnv(opts.user, opts.baseEnv.PATH);
    this.spawner = new Spawner(opts.logger, (pids) => this.spawnerLost(pids), {
      PATH: opts.baseEnv.PATH ?? '/usr/bin:/bin',
    });
    this.rotationTimer = setInterval(() => void this.rotateLogs(), opts.logRotationIntervalMs ?? 15_000);
    this.rotationTimer.unref();
  }

  onEvent(listener: (event: RuntimeEvent) => void): () => void {
    return this.watched.onEvent(listener);
  }

  watchedInstances(): InstanceRef[] {
    return this.watched.live().map(refOf);
  }

  recentLogs(botId: string, lines: number): Promise<string[]> {
    return tailLines(botLogPath(this.opts.botLogsDir, botId), lines);
  }

  isWatching(instanceId: string): boolean {
    return this.watched.isWatching(instanceId);
  }

  async launch(request: LaunchRequest): Promise<LaunchedInstance> {
    return this.withBotLock(request.botId, () => this.launchLocked(request));
  }

  private async launchLocked(request: LaunchRequest): Promise<LaunchedInstance> {
    const { botId, instanceId } = request;
    const current = this.watched.get(instanceId);
    if (current && !current.exit) return publicView(current.instance);

    // A retried launch after a crash between spawn and reply: the process is already there.
    const onDisk = await this.readPidFile(botId, instanceId);
    if (onDisk && (await isSameProcessAlive(onDisk.pid!, onDisk.processStartTicks))) {
      this.watchAdopted(onDisk);
      return publicView(onDisk);
    }
    await this.stopOtherInstances(botId, instanceId);

    if (!request.blueprint && !request.artifact) {
      throw new LaunchError(
        `bot ${botId} has an image but no blueprint; images run with BOT_RUNTIME=kubernetes`,
        'image_unsupported',
      );
    }
    let resolved;
    try {
      // An artifact's entrypoint is held to a blueprint's rules, inside the artifact instead of BOTS_DIR.
      resolved = request.artifact
        ? await resolveBlueprint(request.artifact.dir, request.artifact.entrypoint)
        : await resolveBlueprint(this.opts.botsDir, request.blueprint!);
    } catch (err) {
      if (err instanceof BlueprintError) throw new LaunchError(err.message, 'blueprint_invalid');
      throw err;
    }
    const { user } = this.opts;
    const unreachable =
      accessProblem(user, resolved.realPath, resolved.command === resolved.realPath) ??
      (path.isAbsolute(resolved.command) && resolved.command !== resolved.realPath
        ? accessProblem(user, resolved.command, true)
        : null);
    if (unreachable)
      throw new LaunchError(
        `bot ${botId} runs as ${user.name}, who cannot run it: ${unreachable}`,
        'blueprint_invalid',
      );

    const botRunDir = path.join(this.opts.runDir, botId);
    await fs.mkdir(botRunDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.opts.botLogsDir, { recursive: true });
    const logPath = botLogPath(this.opts.botLogsDir, botId);
    await rotateIfLarge(logPath, this.opts.logMaxBytes, this.opts.logFiles);

    const fifoPath = path.join(botRunDir, `${instanceId}.fifo`);
    await fs.rm(fifoPath, { force: true });
    const record: Omit<PidFile, 'pid' | 'processStartTicks'> = {
      botId,
      instanceId,
      runtime: 'local',
      host: this.host,
      logPath,
      startedAt: new Date().toISOString(),
      fifoPath,
    };
    const cgroupProcs = this.opts.cgroups ? await this.opts.cgroups.create(instanceId, request.resources) : undefined;
    const run = commandAsBotUser(user, resolved.command, [...resolved.commandArgs, ...request.args]);
    let spawned: { pid: number; processStartTicks: string | null };
    try {
      spawned = await this.spawner.spawn({
        command: run.command,
        args: run.args,
        cwd: path.dirname(resolved.realPath),
        cgroupProcs,
        env: {
          ...this.opts.baseEnv,
          ...this.userEnv,
          ...this.opts.platformEnv,
          ...request.env,
          ...request.identity,
          PYTHONUNBUFFERED: '1',
          CODEX32_BOT_ID: botId,
          CODEX32_INSTANCE_ID: instanceId,
        },
        logPath,
        fifoPath,
        pidFile: { path: this.pidFilePath(botId, instanceId), record },
      });
    } catch (err) {
      await fs.rm(fifoPath, { force: true });
      this.opts.cgroups?.release(instanceId);
      throw new LaunchError(
        `could not start ${resolved.command} for bot ${botId}: ${(err as Error).message}; is the interpreter installed?`,
        'spawn_failed',
      );
    }
    const { pid } = spawned;
    const instance: PidFile = { ...record, pid, processStartTicks: spawned.processStartTicks };
    const watched = this.watched.add({ instance, spawned: true, stopping: false, waiters: [] });
    // Before any await: a bot that exits at once must not exit unseen.
    this.spawner.onExit(pid, ({ code, signal }) => {
      this.finish(watched, {
        exitCode: code,
        signal,
        reason: watched.stopping ? 'stopped on request' : signal ? `killed by ${signal}` : `exited with code ${code}`,
        seenBy: 'parent',
      });
    });
    this.opts.logger.info(
      { botId, instanceId, botPid: pid, command: resolved.command, botUser: user.name },
      'bot process started',
    );
    return publicView(instance);
  }

  async adopt(ref: InstanceRef): Promise<boolean> {
    if (this.isWatching(ref.instanceId)) return true;
    const onDisk = await this.readPidFile(ref.botId, ref.instanceId);
    const instance = onDisk ?? this.fallbackPidFile(ref);
    if (ref.pid === null || !(await isSameProcessAlive(ref.pid, ref.processStartTicks))) {
      await this.removeFiles(instance);
      return false;
    }
    await this.watchAdopted(instance).ready;
    this.opts.logger.info({ botId: ref.botId, instanceId: ref.instanceId, botPid: ref.pid }, 'bot process re-adopted');
    return true;
  }

  private watchAdopted(instance: PidFile): Watched {
    const current = this.watched.get(instance.instanceId);
    if (current && !current.exit) return current;
    const watched = this.watched.add({ instance, spawned: false, stopping: false, waiters: [] });
    const alive = () => isSameProcessAlive(instance.pid!, instance.processStartTicks);
    const pollInstead = () => {
      watched.fallbackTimer = setInterval(() => {
        void alive().then((yes) => {
          if (!yes) this.finish(watched, adoptedExit(watched, 'liveness-check'));
        });
      }, 1000);
      watched.fallbackTimer.unref();
    };
    // Linux reports end-of-file on a FIFO only if a writer existed when the reader opened it.
    // So the reader is opened only once the bot is seen holding the FIFO on fd 3. /proc/<pid>/fd
    // cannot be read while the process is in the middle of an exec (interpreter shims exec
    // several times): an unreadable fd 3 of a live process is looked at again shortly after.
    const watch = async (attempt: number): Promise<void> => {
      if (watched.exit) return;
      const [target, fifo] = await Promise.all([
        fs.readlink(`/proc/${instance.pid}/fd/3`).catch(() => null),
        fs.realpath(instance.fifoPath).catch(() => instance.fifoPath),
      ]);
      if (target === fifo) {
        try {
          const fd = openSync(instance.fifoPath, constants.O_RDONLY | constants.O_NONBLOCK);
          const reader = new net.Socket({ fd, readable: true, writable: false });
          reader.on('error', () => undefined);
          // A killed process closes its files a moment before /proc shows it dead: look again
          // briefly before concluding that the bot merely closed fd 3 and must be polled.
          const confirmGone = async (attempt: number): Promise<void> => {
            if (watched.exit) return;
            if (!(await alive())) this.finish(watched, adoptedExit(watched, 'fifo'));
            else if (attempt < 25) setTimeout(() => void confirmGone(attempt + 1), 20).unref();
            else pollInstead();
          };
          reader.once('close', () => void confirmGone(0));
          reader.resume();
          reader.unref();
          watched.fifoReader = reader;
        } catch {
          pollInstead();
          return;
        }
        // Ended between the look at fd 3 and the open: no end-of-file will come.
        if (!(await alive())) this.finish(watched, adoptedExit(watched, 'liveness-check'));
        return;
      }
      const living = await alive();
      if (!living) this.finish(watched, adoptedExit(watched, 'liveness-check'));
      else if (target === null && attempt < 10) setTimeout(() => void watch(attempt + 1), 50).unref();
      else pollInstead();
    };
    watched.ready = watch(0);
    return watched;
  }

  async stop(ref: InstanceRef, graceMs: number): Promise<InstanceExit> {
    return this.withBotLock(ref.botId, async () => {
      if (ref.pid === null || !(await isSameProcessAlive(ref.pid, ref.processStartTicks))) {
        const w = this.watched.get(ref.instanceId);
        if (w && !w.exit) this.finish(w, { exitCode: null, signal: null, reason: 'already gone when asked to stop' });
        await this.removeFiles(this.fallbackPidFile(ref));
        return w?.exit ?? { exitCode: null, signal: null, reason: 'already gone when asked to stop' };
      }
      if (!this.isWatching(ref.instanceId)) await this.adopt(ref);
      const watched = this.watched.get(ref.instanceId);
      if (watched) watched.stopping = true;
      signalGroup(ref.pid, 'SIGTERM');
      let exit = await this.waitExit(ref, graceMs);
      if (!exit) {
        this.opts.logger.warn({ botId: ref.botId, botPid: ref.pid, graceMs }, 'bot ignored SIGTERM; sending SIGKILL');
        signalGroup(ref.pid, 'SIGKILL');
        exit = await this.waitExit(ref, 10_000);
      }
      if (!exit) throw new Error(`process ${ref.pid} of bot ${ref.botId} survived SIGKILL for 10 s`);
      return exit;
    });
  }

  /** Resolves with the exit once it is seen (event, or /proc as a backstop); null after `ms`. */
  private async waitExit(ref: InstanceRef, ms: number): Promise<InstanceExit | null> {
    const watched = this.watched.get(ref.instanceId);
    if (watched?.exit) return watched.exit;
    return new Promise((resolve) => {
      let done = false;
      const settle = (exit: InstanceExit | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        resolve(exit);
      };
      const timer = setTimeout(() => settle(null), ms);
      const poll = setInterval(() => {
        void isSameProcessAlive(ref.pid!, ref.processStartTicks).then((alive) => {
          if (alive) return;
          const w = this.watched.get(ref.instanceId);
          // Started by our spawner: let its exit report deliver the real exit status.
          if (w?.spawned && !w.exit) return;
          if (w && !w.exit) this.finish(w, adoptedExit(w, 'liveness-check'));
          settle(w?.exit ?? { exitCode: null, signal: null, reason: 'stopped on request' });
        });
      }, 25);
      watched?.waiters.push((exit) => settle(exit));
    });
  }

  async isAlive(ref: InstanceRef): Promise<boolean> {
    return ref.pid !== null && isSameProcessAlive(ref.pid, ref.processStartTicks);
  }

  async stats(ref: InstanceRef): Promise<InstanceStats | null> {
    return readInstanceStats(ref.pid, ref.processStartTicks);
  }

  /** The spawner died: its bots live on as orphans; watch them like adopted ones. */
  private spawnerLost(pids: number[]): void {
    const lost = new Set(pids);
    for (const w of this.watched.all()) {
      if (!w.spawned || w.exit || w.instance.pid === null || !lost.has(w.instance.pid)) continue;
      this.watched.delete(w.instance.instanceId);
      const replacement = this.watchAdopted(w.instance);
      replacement.stopping = w.stopping;
      replacement.waiters.push(...w.waiters);
    }
  }

  /** The bot is deleted: its run directory (pid files, FIFOs) goes; its log stays for whoever wants to read it. */
  async release(botId: string): Promise<void> {
    if ([...this.watched.all()].some((w) => w.instance.botId === botId && !w.exit)) return;
    await fs.rm(path.join(this.opts.runDir, botId), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    clearInterval(this.rotationTimer);
    this.spawner.close();
    for (const w of this.watched.all()) {
      w.fifoReader?.destroy();
      if (w.fallbackTimer) clearInterval(w.fallbackTimer);
    }
    this.watched.clear();
  }

  private finish(watched: Watched, ended: InstanceExit): void {
    if (watched.exit) return;
    let exit = ended;
    watched.fifoReader?.destroy();
    if (watched.fallbackTimer) clearInterval(watched.fallbackTimer);
    const { instance } = watched;
    // Whatever the bot left behind in its process group (and its cgroup, which holds even what left the group) goes with it.
    if (instance.pid !== null) signalGroup(instance.pid, 'SIGKILL');
    if (this.opts.cgroups?.release(instance.instanceId).oomKilled && !watched.stopping) {
      exit = {
        ...exit,
        kind: 'oom_killed',
        reason: `killed by the kernel: it went over its memory limit (resources.memory_limit_mb); ${exit.reason}`,
      };
    }
    void this.removeFiles(instance);
    this.opts.logger.info(
      { botId: instance.botId, instanceId: instance.instanceId, botPid: instance.pid, ...exit },
      'bot process ended',
    );
    this.watched.finish(watched, exit);
  }

  private async stopOtherInstances(botId: string, keepInstanceId: string): Promise<void> {
    const dir = path.join(this.opts.runDir, botId);
    const files = await fs.readdir(dir).catch(() => [] as string[]);
    for (const file of files) {
      if (!file.endsWith('.json') || file === `${keepInstanceId}.json`) continue;
      const other = await this.readPidFile(botId, file.slice(0, -'.json'.length));
      if (!other) continue;
      if (other.pid !== null && (await isSameProcessAlive(other.pid, other.processStartTicks))) {
        this.opts.logger.warn(
          { botId, instanceId: other.instanceId, botPid: other.pid },
          'stopping a stray instance before launching another',
        );
        if (!this.isWatching(other.instanceId)) this.watchAdopted(other);
        const w = this.watched.get(other.instanceId);
        if (w) w.stopping = true;
        signalGroup(other.pid, 'SIGKILL');
        await this.waitExit(other, 5_000);
      }
      await this.removeFiles(other);
    }
  }

  private async rotateLogs(): Promise<void> {
    const seen = new Set<string>();
    for (const w of this.watched.all()) {
      const log = w.instance.logPath;
      if (w.exit || !log || seen.has(log)) continue;
      seen.add(log);
      await rotateIfLarge(log, this.opts.logMaxBytes, this.opts.logFiles).catch((err: unknown) =>
        this.opts.logger.warn({ err, log }, 'log rotation failed'),
      );
    }
  }

  private pidFilePath(botId: string, instanceId: string): string {
    return path.join(this.opts.runDir, botId, `${instanceId}.json`);
  }

  private fallbackPidFile(ref: InstanceRef): PidFile {
    return {
      ...ref,
      runtime: 'local',
      host: this.host,
      logPath: botLogPath(this.opts.botLogsDir, ref.botId),
      startedAt: new Date().toISOString(),
      fifoPath: path.join(this.opts.runDir, ref.botId, `${ref.instanceId}.fifo`),
    };
  }

  private async readPidFile(botId: string, instanceId: string): Promise<PidFile | null> {
    try {
      return JSON.parse(await fs.readFile(this.pidFilePath(botId, instanceId), 'utf8')) as PidFile;
    } catch {
      return null;
    }
  }

  private async removeFiles(instance: PidFile): Promise<void> {
    await fs.rm(this.pidFilePath(instance.botId, instance.instanceId), { force: true });
    await fs.rm(instance.fifoPath, { force: true });
  }

  private async withBotLock<T>(botId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.botLocks.get(botId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.botLocks.set(botId, next);
    try {
      return await next;
    } finally {
      if (this.botLocks.get(botId) === next) this.botLocks.delete(botId);
    }
  }
}

function adoptedExit(watched: Watched, seenBy: InstanceExit['seenBy']): InstanceExit {
  return {
    exitCode: null,
    signal: null,
    reason: watched.stopping
      ? 'stopped on request'
      : 'process ended (exit status is not visible to a re-adopting worker)',
    seenBy,
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function publicView(instance: PidFile): LaunchedInstance {
  const { fifoPath: _fifo, ...rest } = instance;
  return rest;
}
