/**
 * The spawner: a small Node process that creates bot processes for the local
 * runtime. Creating a process copies the page tables of its parent, so from a
 * worker holding hundreds of MiB every launch would stall the worker for tens
 * of milliseconds; from this process it costs about one. It is the bots'
 * parent, so it also reports their exit codes. When the worker goes away, so
 * does the spawner; the bots stay, and the next worker re-adopts them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, renameSync, writeFileSync } from 'node:fs';
import { readProcStatSync } from './proc.js';
import type { SpawnerReply, SpawnRequest } from './spawner-protocol.js';

const send = (reply: SpawnerReply) => process.send?.(reply);

function launch(req: SpawnRequest): void {
  let logFd: number | undefined;
  let fifoFd: number | undefined;
  try {
    execFileSync('mkfifo', ['-m', '600', req.fifoPath]);
    // Only the platform reads a bot's log: the bot writes it through the descriptor it is given.
    logFd = openSync(req.logPath, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    // O_RDWR so that opening does not block waiting for a reader.
    fifoFd = openSync(req.fifoPath, constants.O_RDWR);
    const child = spawn(req.command, req.args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: ['ignore', logFd, logFd, fifoFd],
    });
    if (child.pid === undefined) {
      child.once('error', (err) => send({ type: 'error', id: req.id, message: err.message }));
      return;
    }
    const pid = child.pid;
    if (req.cgroupProcs) {
      try {
        writeFileSync(req.cgroupProcs, String(pid));
      } catch (err) {
        // Unconfined, the bot would run past its limits: it does not run at all.
        child.kill('SIGKILL');
        throw new Error(`could not move the bot into its cgroup (${req.cgroupProcs}): ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    const processStartTicks = startTicks(pid);
    const tmp = `${req.pidFile.path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...req.pidFile.record, pid, processStartTicks }), { mode: 0o600 });
    renameSync(tmp, req.pidFile.path);
    child.once('exit', (code, signal) => send({ type: 'exit', pid, code, signal }));
    child.unref();
    send({ type: 'spawned', id: req.id, pid, processStartTicks });
  } catch (err) {
    send({ type: 'error', id: req.id, message: (err as Error).message });
  } finally {
    if (logFd !== undefined) closeSync(logFd);
    if (fifoFd !== undefined) closeSync(fifoFd);
  }
}

/** With the pid, names one process across pid reuse. */
const startTicks = (pid: number): string | null => readProcStatSync(pid)?.startTicks ?? null;

process.on('message', (msg: SpawnRequest) => {
  if (msg?.type === 'spawn') launch(msg);
});
// The worker is gone: nothing is left to report to. Bots run on without us.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole foreground group; the worker decides when we stop.
process.on('SIGINT', () => undefined);
