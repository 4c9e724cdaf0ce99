import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isSameProcessAlive, readProcStat } from '../runtime/proc.js';
import type { Logger } from '../lib/logger.js';
import { projectRoot } from '../lib/project-root.js';
import { BOT_SEARCH_ATTRIBUTES } from '../lib/search-attributes.js';
import { connectTemporal } from '../lib/temporal.js';

const execFileAsync = promisify(execFile);

export interface DevServerOptions {
  dataDir: string;
  logsDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** The server's environment (PATH, HOME, locale): never the platform's own, whose secrets would show in /proc/<pid>/environ. */
  env: Record<string, string>;
  logger: Logger;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  pid: number;
  /** True when a dev server left running by an earlier start was taken over. */
  adopted: boolean;
  stop(): Promise<void>;
}

interface DevServerPidFile {
  pid: number;
  startTicks: string | null;
  port: number;
  uiPort: number;
}

/** `temporal` on PATH, else the project's own build in .tools/bin, built on first use. */
export async function findTemporalCli(logger: Logger): Promise<string> {
  const local = path.join(projectRoot(), '.tools', 'bin', 'temporal');
  try {
    const { stdout } = await execFileAsync('sh', ['-c', 'command -v temporal']);
    if (stdout.trim()) return stdout.trim();
  } catch {
    // not on PATH
  }
  if (existsSync(local)) return local;
  logger.info('the Temporal CLI is missing: building it with go install (first run only)');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', [path.join(projectRoot(), 'scripts', 'install-temporal.sh')], { stdio: 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/install-temporal.sh failed with code ${code}`)),
    );
    child.on('error', reject);
  });
  return local;
}

/**
 * Runs `temporal server start-dev` on a SQLite file under the data directory,
 * so workflows survive restarts. The server runs in its own process group: if
 * the control plane is killed, it goes on, and the next start takes it over.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  await fs.mkdir(opts.logsDir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(opts.dataDir, 'temporal.pid');
  const address = `127.0.0.1:${opts.port}`;
  const uiUrl = `http://127.0.0.1:${opts.uiPort}`;

  const previous = await readJson<DevServerPidFile>(pidFile);
  if (previous && (await isSameProcessAlive(previous.pid, previous.startTicks))) {
    if (previous.port === opts.port && previous.uiPort === opts.uiPort) {
      const connection = await connectTemporal(address, { timeoutMs: 30_000, logger: opts.logger });
      await connection.close();
      opts.logger.info(
        { temporalPid: previous.pid, address },
        'took over the Temporal dev server left running by an earlier start',
      );
      return handle(previous.pid, previous.startTicks, true);
    }
    await stopProcess(previous.pid, previous.startTicks);
  }

  const cli = await findTemporalCli(opts.logger);
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(opts.dataDir, 'temporal.db'),
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    ...BOT_SEARCH_ATTRIBUTES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
  ];
  const logFd = openSync(
    path.join(opts.logsDir, 'temporal.log'),
    constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND,
    0o600,
  );
  let child;
  try {
    child = spawn(cli, args, { detached: true, env: opts.env, stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${cli}`);
  // Assigned in a callback, which TypeScript's narrowing cannot see.
  let exited = null as string | null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  child.unref();
  const startTicks = (await readProcStat(pid))?.startTicks ?? null;
  await fs.writeFile(
    pidFile,
    JSON.stringify({ pid, startTicks, port: opts.port, uiPort: opts.uiPort } satisfies DevServerPidFile),
  );

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited)
      throw new Error(
        `the Temporal dev server ${exited}; see ${path.join(opts.logsDir, 'temporal.log')} (is port ${opts.port} or ${opts.uiPort} taken?)`,
      );
    try {
      const connection = await connectTemporal(address, { timeoutMs: 2_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
  opts.logger.info({ temporalPid: pid, address, uiUrl }, 'Temporal dev server started');
  return handle(pid, startTicks, false);

  function handle(pid: number, startTicks: string | null, adopted: boolean): DevServer {
    return {
      address,
      uiUrl,
      pid,
      adopted,
      async stop() {
        await stopProcess(pid, startTicks);
        await fs.rm(pidFile, { force: true });
      },
    };
  }
}

async function stopProcess(pid: number, startTicks: string | null): Promise<void> {
  if (!(await isSameProcessAlive(pid, startTicks))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (!(await isSameProcessAlive(pid, startTicks))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
