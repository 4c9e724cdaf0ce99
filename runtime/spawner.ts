import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../lib/logger.js';
import { projectRoot } from '../lib/project-root.js';
import type { SpawnerReply, SpawnRequest } from './spawner-protocol.js';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The compiled spawner next to this module, or in dist/ when this module runs from source (tests). */
export function spawnerScriptPath(): string {
  const here = path.join(path.dirname(fileURLToPath(import.meta.url)), 'spawner-process.js');
  if (existsSync(here)) return here;
  const built = path.join(projectRoot(), 'dist', 'runtime', 'spawner-process.js');
  if (existsSync(built)) return built;
  throw new Error(`the spawner is not built (${built}); run npm run build`);
}

/**
 * Client of the spawner process (see spawner-process.ts). Started on first
 * use and again after it dies; when it dies, the pids it was watching are
 * handed to `onLost` so the runtime can watch them another way.
 */
export class Spawner {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (spawned: { pid: number; processStartTicks: string | null }) => void; reject: (err: Error) => void }
  >();
  private readonly exitHandlers = new Map<number, (exit: ProcessExit) => void>();
  private readonly earlyExits = new Map<number, ProcessExit>();
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly onLost: (pids: number[]) => void,
    /** The spawner's own environment: enough to find mkfifo, never the platform's (its secrets would show in /proc/<spawner>/environ). */
    private readonly env: Record<string, string>,
    private readonly script = spawnerScriptPath(),
  ) {}

  spawn(req: Omit<SpawnRequest, 'type' | 'id'>): Promise<{ pid: number; processStartTicks: string | null }> {
    const child = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ type: 'spawn', id, ...req } satisfies SpawnRequest, (err) => {
        if (err) {
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  /** Calls back once with the exit of a process this spawner started (at once if it already ended). */
  onExit(pid: number, handler: (exit: ProcessExit) => void): void {
    const early = this.earlyExits.get(pid);
    if (early) {
      this.earlyExits.delete(pid);
      handler(early);
      return;
    }
    this.exitHandlers.set(pid, handler);
  }

  close(): void {
    this.closed = true;
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private ensure(): ChildProcess {
    if (this.child?.connected) return this.child;
    if (this.closed) throw new Error('the local runtime is closed');
    const child = spawn(process.execPath, [this.script], {
      env: this.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (reply: SpawnerReply) => this.receive(reply));
    child.once('exit', (code, signal) => this.lost(child, code, signal));
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    this.child = child;
    return child;
  }

  private receive(reply: SpawnerReply): void {
    if (reply.type === 'exit') {
      const exit = { code: reply.code, signal: reply.signal };
      const handler = this.exitHandlers.get(reply.pid);
      if (handler) {
        this.exitHandlers.delete(reply.pid);
        handler(exit);
      } else {
        this.earlyExits.set(reply.pid, exit);
      }
      return;
    }
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (reply.type === 'spawned') waiter.resolve({ pid: reply.pid, processStartTicks: reply.processStartTicks });
    else waiter.reject(new Error(reply.message));
  }

  private lost(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    for (const waiter of this.pending.values())
      waiter.reject(new Error(`the spawner process ended (${signal ?? code}) before answering`));
    this.pending.clear();
    const orphans = [...this.exitHandlers.keys()];
    this.exitHandlers.clear();
    this.earlyExits.clear();
    if (!this.closed)
      this.logger.warn(
        { code, signal, watched: orphans.length },
        'spawner process ended; watching its bots through their exit FIFOs',
      );
    if (orphans.length) this.onLost(orphans);
  }
}
