import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { projectRoot } from '../lib/project-root.js';
import { benchAuthOverhead } from './auth-overhead.js';
import { benchChat, type ChatOptions } from './chat.js';
import type { DashboardOptions } from './dashboard.js';
import { benchDeploy, type DeployOptions } from './deploy.js';
import { benchFleetStart } from './fleet-start.js';
import { benchHeal, type HealOptions } from './heal.js';
import { BENCH_IMAGE, benchKubernetes } from './kubernetes.js';
import { createBenchEnv, ECHO_BOT, type BenchEnv, type CloseReport, type HostMode } from './host.js';
import { benchListBots } from './list-bots.js';
import { formatHostMemory, hostMemory } from './proc.js';
import { heading, printFigures, round, type TargetResult } from './stats.js';
import { benchStartLatency } from './start-latency.js';
import { Deadline } from './util.js';

/**
 * npm run bench [-- start fleet list auth heal chat dashboard | k8s] [--host=child|split|in-process] [--strict]
 *
 * Starts its own Temporal dev server (unless TEMPORAL_ADDRESS is set), a fresh
 * database (PGlite, or a new database on DATABASE_URL's server, dropped at the
 * end), and the platform as a child process; runs the chosen benchmarks; prints
 * a table per benchmark and, last, one JSON line with every figure.
 */

const BENCHMARKS = ['start', 'fleet', 'list', 'auth', 'heal', 'chat', 'dashboard', 'deploy', 'k8s'] as const;
type BenchName = (typeof BENCHMARKS)[number];

interface BenchConfig {
  selected: BenchName[];
  host: HostMode;
  strict: boolean;
  start: { runs: number; warmup: number; bootRuns: number; pollMs: number };
  fleet: { size: number; pollMs: number; listRequests: number };
  list: { bots: number; requests: number; concurrency: number; fullPageRequests: number };
  auth: { bots: number; sequential: number; rate: number; seconds: number };
  heal: HealOptions;
  chat: ChatOptions;
  dashboard: DashboardOptions;
  deploy: DeployOptions;
  k8s: { size: number };
}

const USAGE = `usage: npm run bench [-- [start] [fleet] [list] [auth] [heal] [chat] [dashboard] [deploy] | k8s [--host=child|split|in-process] [--strict]]
  start   start → running of ${ECHO_BOT} (p50/p99), beside Node's own boot time
  fleet   N bots started at once: time until all run, memory, stop without leftovers
  list    GET /api/v1/bots with N registered bots: latency and requests/s
  auth    GET /api/v1/bots/{id} and GET /api/v1/bots with JWT auth on vs bypassed (two more API
          processes; needs DATABASE_URL): overhead ratio, and p99 at BENCH_AUTH_RATE req/s
  heal    kill -9 → running again of ${ECHO_BOT} (p50/p99), beside PM2 (a dev dependency, its own
          daemon under the temporary directory) restarting the same script; death → detection;
          then the control plane's CPU and memory with BENCH_MONITOR_BOTS idle bots running
  chat    the command socket: text command round trip (frame in → reply out, p50/p99); event
          fan-out latency to BENCH_CHAT_CLIENTS subscribed clients; each speech-to-text provider's
          real-time factor and command accuracy on espeak-ng speech (vosk needs VOSK_MODEL_PATH)
  dashboard  the console in headless Chromium (Debian's chromium), BENCH_DASHBOARD_BOTS registered and
          BENCH_DASHBOARD_RUNNING running: JS + CSS shipped (gzip), login → fleet painted, status
          recorded → row updated (p99) and the page's JS heap while BENCH_DASHBOARD_CHURN bots restart
          in turn for BENCH_DASHBOARD_SECONDS; then BENCH_DASHBOARD_LARGE bots scrolled through
  deploy  BENCH_DEPLOY_RUNS healthy deployments through the gate (min_healthy_seconds
          BENCH_DEPLOY_MIN_HEALTHY): POST → succeeded less min_healthy (p50/p99); as many crashing
          builds: first crash → the previous revision running again (zero backoff); codex32 --version
  k8s     (alone) BENCH_K8S_BOTS bots with an image started at once with BOT_RUNTIME=kubernetes on
          the test control plane (scripts/k8s, KWOK nodes), or on KUBECONFIG's cluster: time until
          all run, each start → its pod Running; beside kubectl apply of as many Deployments
  --host  child (default): node dist/bin/start.js as a child process
          split: dist/bin/api.js and dist/bin/worker.js as two processes (needs DATABASE_URL)
          in-process: startPlatform() inside the benchmark process
  --strict  exit with code 2 when a target is missed
Environment: TEMPORAL_ADDRESS, DATABASE_URL (a fresh database is created there and dropped),
  BENCH_START_RUNS (50), BENCH_START_WARMUP (3), BENCH_BOOT_RUNS (50), BENCH_POLL_MS (2),
  BENCH_FLEET_SIZE (200), BENCH_LIST_BOTS (1000), BENCH_LIST_REQUESTS (2000), BENCH_LIST_CONCURRENCY (8),
  BENCH_LIST_FULL_REQUESTS (200), BENCH_AUTH_BOTS (50), BENCH_AUTH_SEQUENTIAL (2000), BENCH_AUTH_RATE (500),
  BENCH_AUTH_SECONDS (10), BENCH_HEAL_KILLS (50), BENCH_MONITOR_BOTS (500; 0 skips that part),
  BENCH_MONITOR_SECONDS (60, with and again without bots), BENCH_CHAT_COMMANDS (400),
  BENCH_CHAT_CLIENTS (200), BENCH_CHAT_ROUNDS (20), BENCH_DASHBOARD_BOTS (1000), BENCH_DASHBOARD_RUNNING (200),
  BENCH_DASHBOARD_CHURN (20), BENCH_DASHBOARD_SECONDS (300), BENCH_DASHBOARD_LOGINS (5),
  BENCH_DASHBOARD_LARGE (5000; 0 skips it), BENCH_SCREENSHOTS (a directory: a PNG of each view), BENCH_DEPLOY_RUNS (20),
  BENCH_DEPLOY_MIN_HEALTHY (1), BENCH_CLI_RUNS (20), BENCH_K8S_BOTS (200), BENCH_KEEP=1 keeps the temporary directory,
  BENCH_LOG_LEVEL (warn) is the platform's LOG_LEVEL, BENCH_HOST_NODE_ARGS adds node options to the
  platform processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").`;

function readConfig(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${name}=${raw}: must be an integer from ${min} to ${max}`);
    return n;
  };
  const selected = new Set<BenchName>();
  let host: HostMode = 'child';
  let strict = false;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--strict') strict = true;
    else if (arg.startsWith('--host=')) {
      const value = arg.slice('--host='.length);
      if (value !== 'child' && value !== 'split' && value !== 'in-process')
        throw new Error(`--host=${value}: use child, split or in-process\n${USAGE}`);
      host = value;
    } else if ((BENCHMARKS as readonly string[]).includes(arg)) selected.add(arg as BenchName);
    else if (arg !== 'all') throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  if (selected.has('k8s') && selected.size > 1)
    throw new Error(`k8s runs alone (its platform runs bots on Kubernetes)\n${USAGE}`);
  return {
    selected: BENCHMARKS.filter((b) => (selected.size === 0 ? b !== 'k8s' : selected.has(b))),
    host,
    strict,
    start: {
      runs: int('BENCH_START_RUNS', 50, 1, 10_000),
      warmup: int('BENCH_START_WARMUP', 3, 0, 100),
      bootRuns: int('BENCH_BOOT_RUNS', 50, 1, 10_000),
      pollMs: int('BENCH_POLL_MS', 2, 1, 1000),
    },
    fleet: { size: int('BENCH_FLEET_SIZE', 200, 1, 1000), pollMs: 20, listRequests: 100 },
    list: {
      bots: int('BENCH_LIST_BOTS', 1000, 1, 100_000),
      requests: int('BENCH_LIST_REQUESTS', 2000, 1, 1_000_000),
      concurrency: int('BENCH_LIST_CONCURRENCY', 8, 1, 256),
      fullPageRequests: int('BENCH_LIST_FULL_REQUESTS', 200, 0, 100_000),
    },
    auth: {
      bots: int('BENCH_AUTH_BOTS', 50, 1, 10_000),
      sequential: int('BENCH_AUTH_SEQUENTIAL', 2000, 100, 1_000_000),
      rate: int('BENCH_AUTH_RATE', 500, 1, 100_000),
      seconds: int('BENCH_AUTH_SECONDS', 10, 1, 600),
    },
    heal: {
      // Under the heal policy's ceiling of 1000 restarts, warm-up included.
      kills: int('BENCH_HEAL_KILLS', 50, 1, 900),
      warmup: 3,
      pollMs: int('BENCH_POLL_MS', 2, 1, 1000),
      monitor: { bots: int('BENCH_MONITOR_BOTS', 500, 0, 2000), seconds: int('BENCH_MONITOR_SECONDS', 60, 5, 3600) },
    },
    k8s: { size: int('BENCH_K8S_BOTS', 200, 1, 2000) },
    dashboard: dashboardConfig(int),
    deploy: {
      runs: int('BENCH_DEPLOY_RUNS', 20, 1, 1000),
      minHealthySeconds: int('BENCH_DEPLOY_MIN_HEALTHY', 1, 0, 60),
      cliRuns: int('BENCH_CLI_RUNS', 20, 1, 1000),
    },
    chat: {
      commands: int('BENCH_CHAT_COMMANDS', 400, 1, 100_000),
      clients: int('BENCH_CHAT_CLIENTS', 200, 1, 5000),
      rounds: int('BENCH_CHAT_ROUNDS', 20, 1, 1000),
    },
  };
}

function dashboardConfig(int: (name: string, fallback: number, min: number, max: number) => number): DashboardOptions {
  const bots = int('BENCH_DASHBOARD_BOTS', 1000, 10, 100_000);
  const running = int('BENCH_DASHBOARD_RUNNING', 200, 1, 2000);
  const churnBots = int('BENCH_DASHBOARD_CHURN', 20, 1, 200);
  if (running > bots || churnBots > running)
    throw new Error('BENCH_DASHBOARD_CHURN <= BENCH_DASHBOARD_RUNNING <= BENCH_DASHBOARD_BOTS');
  return {
    bots,
    running,
    churnBots,
    churnSeconds: int('BENCH_DASHBOARD_SECONDS', 300, 10, 3600),
    logins: int('BENCH_DASHBOARD_LOGINS', 5, 1, 100),
    largeFleet: int('BENCH_DASHBOARD_LARGE', 5000, 0, 100_000),
    screenshots: process.env.BENCH_SCREENSHOTS?.trim() || null,
  };
}

/** One start and stop before measuring: the worker is polling, code paths are warm. Returns the cold start → running. */
async function warmUp(env: BenchEnv): Promise<number> {
  const id = `${env.runId}-probe`;
  await env.api.registerBot(
    id,
    process.env.BOT_RUNTIME === 'kubernetes'
      ? { image: BENCH_IMAGE, role: 'probe' }
      : { blueprint: ECHO_BOT, role: 'probe', env: { INTERVAL_MS: '600000' } },
  );
  const t0 = performance.now();
  await env.api.expect([202], 'POST', `/api/v1/bots/${id}/start`);
  await env.api.waitStatus(id, 'running', 10, new Deadline(120_000, 'the first bot start'));
  const cold = performance.now() - t0;
  await env.api.expect([202], 'POST', `/api/v1/bots/${id}/stop`);
  await env.api.waitStatus(id, 'stopped', 10, new Deadline(60_000, 'the first bot stop'));
  return cold;
}

async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(2), process.env);
  const summary: Record<string, unknown> = {
    bench: 'codex32',
    at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memMiB: Math.round(os.totalmem() / 1048576),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    host: config.host,
    selected: config.selected,
  };
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const targets: TargetResult[] = [];
  let cleanup: CloseReport | undefined;

  console.log(
    `Codex-32 benchmarks: ${config.selected.join(', ')} (host: ${config.host}, ${os.cpus().length} CPUs, Node ${process.version})`,
  );
  const t0 = performance.now();
  const cluster = config.selected.includes('k8s') ? await kubernetesForBench() : null;
  const env = await createBenchEnv(config.host);
  // Interrupted: bots and the dev server run detached, so clean up before going.
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: cleaning up (bots, platform, Temporal dev server, database)…`);
    env.api.disable();
    void env.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const coldStartMs = await warmUp(env);
    const idleMemory = await hostMemory(env.hosts);
    Object.assign(summary, {
      engine: env.engine,
      temporal: env.temporal.pid === null ? 'external' : 'dev server',
      migrateMs: round(env.migrateMs),
      platformReadyMs: round(env.platformReadyMs),
      coldStartMs: round(coldStartMs),
      idleMemory,
    });
    heading('setup');
    printFigures([
      ['platform', env.hosts.map((h) => `${h.role} pid ${h.pid}`).join(', ')],
      ['database', env.engine],
      ['temporary directory', `${env.root}${process.env.BENCH_KEEP ? ' (kept: BENCH_KEEP)' : ' (removed at the end)'}`],
      [
        'Temporal',
        `${env.temporal.address}${env.temporal.pid === null ? ' (TEMPORAL_ADDRESS)' : ` (dev server pid ${env.temporal.pid})`}`,
      ],
      ['setup (Temporal, database, platform ready)', `${((performance.now() - t0) / 1000).toFixed(1)} s`],
      ['migrate (fresh database, own process)', `${env.migrateMs.toFixed(0)} ms`],
      ['platform start → GET /health/ready 200', `${env.platformReadyMs.toFixed(0)} ms`],
      ['first bot start → running (cold)', `${coldStartMs.toFixed(1)} ms`],
      ...idleMemory.map(formatHostMemory).map(([k, v]): [string, string] => [`idle: ${k}`, v]),
    ]);

    for (const name of config.selected) {
      try {
        const result =
          name === 'start'
            ? await benchStartLatency(env, config.start)
            : name === 'fleet'
              ? await benchFleetStart(env, config.fleet)
              : name === 'list'
                ? await benchListBots(env, config.list)
                : name === 'auth'
                  ? await benchAuthOverhead(env, config.auth)
                  : name === 'heal'
                    ? await benchHeal(env, config.heal)
                    : name === 'chat'
                      ? await benchChat(env, config.chat)
                      : name === 'dashboard'
                        ? // Loaded only here: it drives Chromium through playwright-core, a development dependency.
                          await (await import('./dashboard.js')).benchDashboard(env, config.dashboard)
                        : name === 'deploy'
                          ? await benchDeploy(env, config.deploy)
                          : await benchKubernetes(env, {
                              size: config.k8s.size,
                              kubeconfig: process.env.KUBECONFIG!,
                              namespace: process.env.KUBE_BOTS_NAMESPACE!,
                            });
        results[name] = result;
        targets.push(...result.targets);
      } catch (err) {
        errors[name] = (err as Error).stack ?? String(err);
        console.error(`\nbenchmark "${name}" failed:`, err);
      }
    }
  } finally {
    cleanup = await env.close();
    heading('cleanup');
    printFigures([
      ['bot processes left at the end (killed)', String(cleanup.leftoverBotProcesses)],
      ['platform log: warnings / errors', `${cleanup.platformLogWarnings} / ${cleanup.platformLogErrors}`],
    ]);
    for (const line of cleanup.sampleLogLines) console.log(`  ${line}`);
    await cluster?.stop();
  }

  const missed = targets.filter((t) => !t.pass);
  heading('targets');
  for (const t of targets)
    console.log(`${t.pass ? 'PASS' : 'MISS'}  ${t.name} <= ${t.limit} ${t.unit}: ${t.value} ${t.unit}`);
  const ok = Object.keys(errors).length === 0;
  Object.assign(summary, {
    ok,
    targets,
    results,
    errors,
    cleanup,
    totalSeconds: round((performance.now() - t0) / 1000),
  });
  console.log(JSON.stringify(summary));
  if (!ok) process.exitCode = 1;
  else if (config.strict && missed.length) process.exitCode = 2;
}

/**
 * The cluster for the k8s benchmark: KUBECONFIG's when set, else the test
 * control plane of scripts/k8s started for the run. The platform (a child
 * process) reads BOT_RUNTIME, KUBECONFIG and KUBE_BOTS_NAMESPACE from here.
 */
async function kubernetesForBench(): Promise<{ stop(): Promise<void> }> {
  const own = !process.env.KUBECONFIG?.trim();
  let stop = async (): Promise<void> => undefined;
  if (own) {
    const cluster = (await import(path.join(projectRoot(), 'scripts', 'k8s', 'cluster.mjs'))) as {
      startCluster(): Promise<{ kubeconfig: string }>;
      stopCluster(): Promise<void>;
    };
    process.env.KUBECONFIG = (await cluster.startCluster()).kubeconfig;
    stop = () => cluster.stopCluster();
  }
  const namespace =
    process.env.KUBE_BOTS_NAMESPACE?.trim() || `codex32-bench-${Math.random().toString(36).slice(2, 8)}`;
  process.env.BOT_RUNTIME = 'kubernetes';
  process.env.KUBE_BOTS_NAMESPACE = namespace;
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG!);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
  return {
    async stop() {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      await stop();
    },
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
