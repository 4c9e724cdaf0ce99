import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Pm2Module from 'pm2';
import type { ProcessDescription, StartOptions } from 'pm2';
import { isSameProcessAlive, readProcStat, readProcStatSync } from '../runtime/proc.js';
import { sleep } from './util.js';

type Pm2Api = typeof Pm2Module;

/** What PM2's bus says about an app, as it happens ('exit', 'online', 'restart', ...); `at` is the daemon's Date.now(). */
export interface Pm2Event {
  event: string;
  app: string;
  at: number;
}

/** PM2's bus, as the programmatic API hands it out (an axon sub-emitter); not in pm2's typings. */
interface Pm2Bus {
  on(topic: string, listener: (packet: { event?: string; process?: { name?: string }; at?: number }) => void): void;
}

const callback =
  <T>(resolve: (value: T) => void, reject: (err: Error) => void) =>
  (err: Error | null | undefined, value: T) =>
    err ? reject(err) : resolve(value);

/**
 * A PM2 daemon of the benchmark's own, driven through pm2's programmatic API:
 * its home (socket, pid file, logs) is a directory of this run, never the
 * user's ~/.pm2, and it is killed at the end with everything it started.
 */
export class Pm2Daemon {
  readonly events: Pm2Event[] = [];
  /** The daemon and the latest app process seen, with their start times (a pid alone may be reused). */
  private readonly processes = new Map<'daemon' | 'app', { pid: number; startTicks: string | null }>();

  private constructor(
    private readonly pm2: Pm2Api,
    readonly home: string,
    readonly version: string,
    private readonly previousHome: string | undefined,
    private readonly killOnExit: () => void,
  ) {}

  static async launch(home: string): Promise<Pm2Daemon> {
    await fs.mkdir(home, { recursive: true });
    // pm2 reads PM2_HOME when it is imported, and its daemon takes this process's environment over
    // the pm2_home option: the variable must be set first, or a user's daemon could be the one used.
    const previousHome = process.env.PM2_HOME;
    process.env.PM2_HOME = home;
    const require = createRequire(import.meta.url);
    const { version } = JSON.parse(await fs.readFile(require.resolve('pm2/package.json'), 'utf8')) as {
      version: string;
    };
    // CommonJS (module.exports is an API instance): under ESM that is the default export, whatever the typings declare.
    const loaded = await import('pm2');
    const pm2 = (loaded as Pm2Api & { default?: Pm2Api }).default ?? loaded;
    // The daemon runs detached: should this process end abruptly, it must not outlive the run.
    const daemon: Pm2Daemon = new Pm2Daemon(pm2, home, version, previousHome, () => daemon.killSync());
    process.once('exit', daemon.killOnExit);
    await new Promise<void>((resolve, reject) => pm2.connect((err) => (err ? reject(err) : resolve())));
    await daemon.remember('daemon', Number((await fs.readFile(path.join(home, 'pm2.pid'), 'utf8')).trim()));
    const bus = await new Promise<Pm2Bus>((resolve, reject) =>
      pm2.launchBus(callback<Pm2Bus>(resolve, reject) as never),
    );
    bus.on('process:event', (packet) => {
      if (packet.event && packet.process?.name && typeof packet.at === 'number')
        daemon.events.push({ event: packet.event, app: packet.process.name, at: packet.at });
    });
    return daemon;
  }

  get pid(): number | null {
    return this.processes.get('daemon')?.pid ?? null;
  }

  async start(options: StartOptions & { name: string }): Promise<void> {
    await new Promise<unknown>((resolve, reject) => this.pm2.start(options, callback(resolve, reject)));
  }

  /** The app's process while PM2 says it is online; null otherwise. */
  async online(name: string): Promise<{ pid: number } | null> {
    const [desc] = await new Promise<ProcessDescription[]>((resolve, reject) =>
      this.pm2.describe(name, callback(resolve, reject)),
    );
    if (desc?.pm2_env?.status !== 'online' || !desc.pid) return null;
    if (this.processes.get('app')?.pid !== desc.pid) await this.remember('app', desc.pid);
    return { pid: desc.pid };
  }

  /**
   * Deletes every app, ends the daemon, and makes sure that neither it nor
   * any app process it ran is left; returns how many had to be SIGKILLed.
   */
  async close(): Promise<number> {
    const pm2 = this.pm2;
    await new Promise<unknown>((resolve) => pm2.delete('all', () => resolve(undefined)));
    // Not pm2.killDaemon(): it leaves this process unable to exit (and rewrites PM2_STATUS and PM2_SILENT in its
    // environment). The daemon stops its apps and exits on SIGTERM.
    pm2.disconnect();
    const daemon = this.processes.get('daemon');
    if (daemon && (await isSameProcessAlive(daemon.pid, daemon.startTicks))) process.kill(daemon.pid, 'SIGTERM');
    let leftovers = 0;
    for (const { pid, startTicks } of this.processes.values()) {
      if (await gone(pid, startTicks, 5_000)) continue;
      leftovers++;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    process.removeListener('exit', this.killOnExit);
    if (this.previousHome === undefined) delete process.env.PM2_HOME;
    else process.env.PM2_HOME = this.previousHome;
    return leftovers;
  }

  private async remember(what: 'daemon' | 'app', pid: number): Promise<void> {
    if (pid > 0) this.processes.set(what, { pid, startTicks: (await readProcStat(pid))?.startTicks ?? null });
  }

  private killSync(): void {
    for (const { pid, startTicks } of this.processes.values()) {
      try {
        const stat = readProcStatSync(pid);
        if (!stat || (startTicks !== null && stat.startTicks !== startTicks)) continue;
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** True once the process has ended (a zombie counts as ended); false if it is still there after `ms`. */
async function gone(pid: number, startTicks: string | null, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (await isSameProcessAlive(pid, startTicks)) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}
