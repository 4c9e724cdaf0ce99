import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startPlatform, type Platform } from '../bin/platform.js';
import { configSchema, loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { projectRoot } from '../lib/project-root.js';
import { startDevServer, type DevServer } from '../bin/temporal-dev-server.js';
import { killLeftovers } from './proc.js';
import { createScratchDatabase } from '../lib/scratch.js';
import { Api, Deadline, freePort, pool, sleep, type BotList } from './util.js';
import { removeGuard } from '../runtime/network-guard.js';

/**
 * Where the platform under test runs:
 *  - child:      `node dist/bin/start.js` (API + worker in one process, as `npm start`), measured from /proc;
 *  - split:      `dist/bin/api.js` and `dist/bin/worker.js` as two processes (needs DATABASE_URL);
 *  - in-process: startPlatform() inside the benchmark process (its RSS includes the benchmark client).
 */
export type HostMode = 'child' | 'split' | 'in-process';

export interface HostProcess {
  role: string;
  pid: number;
}

export interface BenchEnv {
  api: Api;
  /** Short random id: every bot id of this run starts with it, so nothing else is touched on a shared server. */
  runId: string;
  root: string;
  /** Real path of the bots directory (the cwd of every bot process). */
  botsDir: string;
  botLogsDir: string;
  mode: HostMode;
  hosts: HostProcess[];
  temporal: { address: string; pid: number | null };
  engine: 'pglite' | 'postgres';
  /** `node dist/bin/migrate.js latest` on the fresh database. */
  migrateMs: number;
  /** Spawn (or startPlatform call) until GET /health/ready answers 200. */
  platformReadyMs: number;
  /** The environment the platform processes run with (database, Temporal, directories, credentials). */
  platformEnv: Record<string, string>;
  close(): Promise<CloseReport>;
}

export interface CloseReport {
  leftoverBotProcesses: number;
  platformLogWarnings: number;
  platformLogErrors: number;
  sampleLogLines: string[];
}

export const ECHO_BOT = 'echo_bot.mjs';

interface Closer {
  what: string;
  fn: () => Promise<void>;
}

export async function createBenchEnv(mode: HostMode): Promise<BenchEnv> {
  // Infrastructure (temp dir, Temporal, database) and the platform close separately: bots must be swept in between.
  const closers: Closer[] = [];
  const platformClosers: Closer[] = [];
  const runCloserStack = async () => {
    for (const { what, fn } of [...closers.splice(0), ...platformClosers.splice(0)].reverse()) {
      await fn().catch((err: unknown) => console.error(`bench: ${what} failed during cleanup:`, err));
    }
  };
  try {
    if (mode === 'split' && !process.env.DATABASE_URL?.trim()) {
      throw new Error(
        '--host=split runs the API and the worker as two processes and needs DATABASE_URL (PGlite lives in one process)',
      );
    }
    const runId = `b${randomUUID().replaceAll('-', '').slice(0, 6)}`;
    const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-bench-')));
    closers.push({
      what: 'removing the temporary directory',
      fn: () => (process.env.BENCH_KEEP ? Promise.resolve() : fs.rm(root, { recursive: true, force: true })),
    });
    // Bots run as another user (codex32-bot when the benchmark runs as root): their scripts must be reachable by it.
    await fs.chmod(root, 0o755);
    const botsDir = path.join(root, 'bots');
    const dataDir = path.join(root, 'data');
    const logsDir = path.join(root, 'logs');
    // The platform guards its services from its bots for as long as the installation lives: this one ends with the run.
    closers.push({ what: "removing the bots' network guard", fn: () => removeGuard(dataDir, process.env.PATH) });
    await fs.mkdir(botsDir, { recursive: true });
    await fs.mkdir(logsDir, { recursive: true });
    await fs.copyFile(path.join(projectRoot(), 'bots', ECHO_BOT), path.join(botsDir, ECHO_BOT));
    await fs.cp(path.join(projectRoot(), 'bots', 'sdk'), path.join(botsDir, 'sdk'), { recursive: true });

    // Temporal: the one named by TEMPORAL_ADDRESS, else a dev server of our own on free loopback ports.
    const namespace = process.env.TEMPORAL_NAMESPACE?.trim() || 'default';
    let temporal: BenchEnv['temporal'];
    const external = process.env.TEMPORAL_ADDRESS?.trim();
    if (external) {
      temporal = { address: external, pid: null };
    } else {
      const dir = path.join(root, 'temporal');
      const dev: DevServer = await startDevServer({
        dataDir: dir,
        logsDir: dir,
        port: await freePort(),
        uiPort: await freePort(),
        namespace,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        logger: createLogger({ LOG_LEVEL: 'warn', NODE_ENV: 'production' }, 'bench-temporal'),
      });
      closers.push({ what: 'stopping the Temporal dev server', fn: () => dev.stop() });
      temporal = { address: dev.address, pid: dev.pid };
    }

    // Database: a fresh one on the server of DATABASE_URL (dropped at the end), else PGlite under DATA_DIR.
    let databaseUrl: string | undefined;
    if (process.env.DATABASE_URL?.trim()) {
      const db = await createScratchDatabase(process.env.DATABASE_URL.trim(), 'c32_bench');
      closers.push({ what: 'dropping the benchmark database', fn: () => db.drop() });
      databaseUrl = db.url;
    }

    const apiPort = await freePort();
    const env: Record<string, string> = {
      // The platform's own settings from this environment (e.g. BOT_RUNTIME), then what the benchmark decides.
      ...Object.fromEntries(
        Object.keys(configSchema.shape).flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])),
      ),
      ...Object.fromEntries(
        ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'].flatMap((k) =>
          process.env[k] === undefined ? [] : [[k, process.env[k]!]],
        ),
      ),
      NODE_ENV: 'production',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL?.trim() || 'warn',
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      DATA_DIR: dataDir,
      LOGS_DIR: logsDir,
      BOTS_DIR: botsDir,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_TASK_QUEUE: `bench-${runId}`,
      // The benchmark is one caller making thousands of requests: authenticate it as an administrator, unthrottled.
      ADMIN_API_KEY: `bench-admin-${randomUUID()}`,
      ADMIN_USERNAME: 'bench-admin',
      ADMIN_PASSWORD: `Bench-${randomUUID()}`,
      RATE_LIMIT_REQUESTS: '1000000000',
    };
    delete env.DATABASE_URL;
    if (databaseUrl) env.DATABASE_URL = databaseUrl;
    const config = loadConfig(env, root); // fails early, with the platform's own message, on a bad setting
    const api = new Api(`http://127.0.0.1:${apiPort}`, { 'X-API-Key': env.ADMIN_API_KEY! });

    // Migrate first, in a process of its own, as a deployment does: PGlite's initdb of a fresh data directory
    // leaves a large resident high-water mark that a restarted platform never has, and would inflate its RSS.
    const m0 = performance.now();
    await runToCompletion(
      path.join(projectRoot(), 'dist', 'bin', 'migrate.js'),
      ['latest'],
      env,
      root,
      path.join(logsDir, 'migrate.log'),
      120_000,
    );
    const migrateMs = performance.now() - m0;

    const hosts: HostProcess[] = [];
    const logFiles: string[] = [];
    const children: Array<{ child: ChildProcess; logFile: string }> = [];
    const t0 = performance.now();
    if (mode === 'in-process') {
      const logFile = path.join(logsDir, 'platform.log');
      logFiles.push(logFile);
      const logger = pino(
        { name: 'codex32', level: config.LOG_LEVEL },
        pino.destination({ dest: logFile, sync: true }),
      );
      const platform: Platform = await startPlatform({
        config,
        logger,
        temporalAddress: temporal.address,
        api: true,
        worker: true,
      });
      platformClosers.push({ what: 'closing the platform', fn: () => platform.close() });
      hosts.push({ role: 'platform (api+worker, in the benchmark process)', pid: process.pid });
    } else {
      const roles: Array<[role: string, script: string]> =
        mode === 'child'
          ? [['platform (api+worker)', 'start.js']]
          : [
              ['worker', 'worker.js'],
              ['api', 'api.js'],
            ];
      for (const [role, script] of roles) {
        const logFile = path.join(logsDir, `${script.replace('.js', '')}.log`);
        logFiles.push(logFile);
        const child = await spawnHost(path.join(projectRoot(), 'dist', 'bin', script), env, root, logFile);
        platformClosers.push({ what: `stopping the ${role} process`, fn: () => stopChild(child) });
        hosts.push({ role, pid: child.pid! });
        children.push({ child, logFile });
      }
    }
    const deadline = new Deadline(120_000, 'waiting for GET /health/ready');
    for (;;) {
      const exited = children.find(({ child }) => child.exitCode !== null || child.signalCode !== null);
      if (exited) {
        throw new Error(
          `the platform process exited (${exited.child.exitCode ?? exited.child.signalCode}) before it was ready; its log ends with:\n${await tail(exited.logFile, 30)}`,
        );
      }
      const ready = await api.request('GET', '/health/ready', undefined, 5_000).catch(() => null);
      if (ready?.status === 200) break;
      if (deadline.expired) {
        const logs = (await Promise.all(logFiles.map((f) => tail(f, 20)))).join('\n');
        throw new Error(
          `the platform was not ready after ${deadline.ms} ms (${ready ? `last answer ${ready.status}: ${JSON.stringify(ready.body)}` : 'no answer'}); its log ends with:\n${logs}`,
        );
      }
      await sleep(100);
    }
    const platformReadyMs = performance.now() - t0;

    const engine = databaseUrl ? 'postgres' : 'pglite';
    let closed: Promise<CloseReport> | undefined;
    return {
      api,
      runId,
      root,
      botsDir,
      botLogsDir: config.paths.botLogsDir,
      mode,
      hosts,
      temporal,
      engine,
      migrateMs,
      platformReadyMs,
      platformEnv: env,
      close() {
        closed ??= (async () => {
          if (external) await deleteBenchBots(api, runId);
          // Platform first (bots outlive it by design, and a live worker would heal killed bots), then leftovers.
          for (const { what, fn } of platformClosers.splice(0).reverse()) {
            await fn().catch((err: unknown) => console.error(`bench: ${what} failed during cleanup:`, err));
          }
          const leftoverBotProcesses = await killLeftovers(botsDir);
          const logs = await scanLogs(logFiles);
          await runCloserStack();
          return { leftoverBotProcesses, ...logs };
        })();
        return closed;
      },
    };
  } catch (err) {
    await runCloserStack();
    throw err;
  }
}

export async function spawnHost(
  script: string,
  env: Record<string, string>,
  cwd: string,
  logFile: string,
  args: string[] = [],
): Promise<ChildProcess> {
  const out = createWriteStream(logFile, { flags: 'a' });
  await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
  // BENCH_HOST_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the platform under load.
  const nodeArgs = process.env.BENCH_HOST_NODE_ARGS?.trim().split(/\s+/) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  child.once('exit', () => setTimeout(() => out.end(), 100));
  if (child.pid === undefined) throw new Error(`could not start ${process.execPath} ${script}`);
  return child;
}

async function runToCompletion(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const child = await spawnHost(script, env, cwd, logFile, args);
  const code = await new Promise<number | string | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (c, signal) => {
      clearTimeout(timer);
      resolve(signal ?? c);
    });
  });
  if (code !== 0)
    throw new Error(
      `${path.basename(script)} ${args.join(' ')} exited with ${code}; its log ends with:\n${await tail(logFile, 30)}`,
    );
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = (ms: number) =>
    new Promise<boolean>((resolve) => {
      // A timer that is cleared, not left to keep this process alive after the run.
      const timer = setTimeout(() => resolve(false), ms);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  child.kill('SIGTERM');
  if (!(await exited(30_000))) {
    console.error(`bench: platform process ${child.pid} ignored SIGTERM for 30 s; sending SIGKILL`);
    child.kill('SIGKILL');
    await exited(5_000);
  }
}

/** On a shared Temporal, remove what this run registered (stop first where needed); bounded. */
async function deleteBenchBots(api: Api, runId: string): Promise<void> {
  const deadline = new Deadline(180_000, 'deleting the benchmark bots');
  const ids: Array<{ id: string; status: string }> = [];
  for (let offset = 0; !deadline.expired; offset += 1000) {
    const page = await api.request<BotList>('GET', `/api/v1/bots?limit=1000&offset=${offset}`).catch(() => null);
    if (page?.status !== 200) break;
    for (const b of page.body.bots) if (b.bot_id.startsWith(`${runId}-`)) ids.push({ id: b.bot_id, status: b.status });
    if (page.body.bots.length < 1000) break;
  }
  let failed = 0;
  await pool(ids.length, 8, deadline, async (i) => {
    const { id, status } = ids[i]!;
    try {
      if (!['registered', 'stopped', 'failed'].includes(status)) {
        await api.request('POST', `/api/v1/bots/${id}/stop`);
        await api.waitStatus(id, 'stopped', 50, new Deadline(30_000, `stopping ${id}`));
      }
      const res = await api.request('DELETE', `/api/v1/bots/${id}`);
      if (res.status !== 200) failed++;
    } catch {
      failed++;
    }
  });
  if (failed)
    console.error(
      `bench: ${failed} of ${ids.length} benchmark bots could not be deleted from the shared Temporal server`,
    );
}

async function scanLogs(files: string[]): Promise<Omit<CloseReport, 'leftoverBotProcesses'>> {
  let platformLogWarnings = 0;
  let platformLogErrors = 0;
  const sampleLogLines: string[] = [];
  for (const file of files) {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
      if (level >= 50) platformLogErrors++;
      else if (level >= 40) platformLogWarnings++;
      else continue;
      if (sampleLogLines.length < 5) sampleLogLines.push(line.slice(0, 400));
    }
  }
  return { platformLogWarnings, platformLogErrors, sampleLogLines };
}

export async function tail(file: string, lines: number): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}
