import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../lib/temporal.js';
import { healTimelines } from './heal-timeline.js';
import { ECHO_BOT, type BenchEnv } from './host.js';
import { benchMonitorCpu, type MonitorOptions, type MonitorResult } from './monitor-cpu.js';
import { Pm2Daemon, type Pm2Event } from './pm2.js';
import { firstLogLineAt } from './start-latency.js';
import {
  checkTarget,
  heading,
  printFigures,
  printSummaryTable,
  round,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, sleep, type BotBody } from './util.js';
import { botLogPath } from '../runtime/log-files.js';

export interface HealOptions {
  kills: number;
  warmup: number;
  pollMs: number;
  monitor: MonitorOptions;
}

export interface HealResult {
  kills: number;
  pm2Version: string;
  codex32: {
    killToRunningMs: Summary;
    killToFirstLineMs: Summary;
    deathToDetectionMs: Summary;
    /** Where the time goes, step by step, from the workflow history. */
    steps: Record<string, Summary>;
  };
  pm2: {
    killToOnlineMs: Summary;
    killToFirstLineMs: Summary;
    deathToDetectionMs: Summary;
    steps: Record<string, Summary>;
  };
  /** Codex-32 ÷ PM2. */
  ratio: { runningP50: number; runningP99: number; firstLineP50: number; firstLineP99: number };
  leftoverPm2Processes: number;
  monitor: MonitorResult | null;
  targets: TargetResult[];
}

/** Restart at once, as PM2 does by default: no backoff, no jitter, and more restarts allowed than the benchmark makes. */
const IMMEDIATE_HEAL_POLICY = {
  max_restarts: 1000,
  window_seconds: 3600,
  backoff_initial_seconds: 0,
  backoff_max_seconds: 0,
  backoff_jitter: 0,
};
/** After each new process has written its first line: both sides finish what follows a restart before the next kill. */
const SETTLE_MS = 200;
const BOT_ENV = { INTERVAL_MS: '600000' };

/** A bot under one of the two managers. */
interface Supervised {
  name: 'Codex-32' | 'PM2';
  logFile: string;
  /** The process while its manager says it runs, and what tells it from the process before (instance id, pid). */
  running(): Promise<{ pid: number; generation: string } | null>;
}

interface Kill {
  generation: string;
  /** Date.now() just before SIGKILL. */
  killedAt: number;
  toRunningMs: number;
  /** The `at` of the new process's "started" line. */
  firstLineAt: number | null;
  /** PM2 only: its bus events for this kill ('exit', then 'online'). */
  pm2Exit?: Pm2Event | undefined;
  pm2Online?: Pm2Event | undefined;
}

/**
 * Benchmark 5: self-healing. One echo bot under Codex-32 and the same script
 * under PM2, each SIGKILLed again and again (alternating sides, so that other
 * load on the machine hits both alike): kill → running again on both, the
 * time Codex-32 takes to notice a death, and where the rest of its time goes.
 * Then the monitor's cost: the control plane's CPU and memory with many idle
 * bots running, sampled every BOT_SAMPLE_INTERVAL_SECONDS.
 */
export async function benchHeal(env: BenchEnv, opts: HealOptions): Promise<HealResult> {
  heading(
    `kill -9 → running again: ${ECHO_BOT} under Codex-32 and under PM2, ${opts.kills} kills each (+${opts.warmup} warm-up), polling every ${opts.pollMs} ms`,
  );
  const { api } = env;
  const id = `${env.runId}-heal`;
  await api.registerBot(id, { blueprint: ECHO_BOT, role: 'heal', env: BOT_ENV, heal_policy: IMMEDIATE_HEAL_POLICY });
  await api.expect([202], 'POST', `/api/v1/bots/${id}/start`);
  const codex32: Supervised = {
    name: 'Codex-32',
    logFile: botLogPath(env.botLogsDir, id),
    async running() {
      const { body } = await api.expect<BotBody>([200], 'GET', `/api/v1/bots/${id}`);
      if (body.status === 'failed') throw new Error(`bot ${id} failed: ${body.status_reason}`);
      return body.status === 'running' && body.pid && body.instance_id
        ? { pid: body.pid, generation: body.instance_id }
        : null;
    },
  };

  const pm2 = await Pm2Daemon.launch(path.join(env.root, 'pm2'));
  let leftoverPm2Processes: number;
  const codexKills: Kill[] = [];
  const pm2Kills: Kill[] = [];
  let workflowId: string;
  try {
    const app = `${env.runId}-heal`;
    const pm2LogFile = path.join(pm2.home, `${app}.log`);
    await pm2.start({
      name: app,
      script: path.join(env.botsDir, ECHO_BOT),
      cwd: env.botsDir,
      env: BOT_ENV,
      autorestart: true,
      restart_delay: 0,
      max_restarts: 1000,
      output: pm2LogFile,
      error: pm2LogFile,
      merge_logs: true,
    });
    const underPm2: Supervised = {
      name: 'PM2',
      logFile: pm2LogFile,
      async running() {
        const online = await pm2.online(app);
        return online ? { pid: online.pid, generation: String(online.pid) } : null;
      },
    };

    const deadline = new Deadline(Math.max(180_000, (opts.kills + opts.warmup) * 2 * 10_000), 'heal benchmark');
    for (let i = 0; i < opts.warmup + opts.kills; i++) {
      const order = i % 2 === 0 ? [codex32, underPm2] : [underPm2, codex32];
      for (const side of order) {
        const eventsBefore = pm2.events.length;
        const kill = await killOnce(side, opts.pollMs, deadline);
        if (side === underPm2) {
          // The bus is asynchronous: give its events a moment to arrive.
          const wait = new Deadline(1_000, 'PM2 bus events');
          const ours = () => pm2.events.slice(eventsBefore).filter((e) => e.app === app);
          while (!wait.expired && !ours().some((e) => e.event === 'online')) await sleep(5);
          kill.pm2Exit = ours().find((e) => e.event === 'exit');
          kill.pm2Online = ours().find((e) => e.event === 'online' && e.at >= (kill.pm2Exit?.at ?? 0));
        }
        if (i >= opts.warmup) (side === codex32 ? codexKills : pm2Kills).push(kill);
      }
    }
    workflowId = (await api.expect<BotBody>([200], 'GET', `/api/v1/bots/${id}`)).body.workflow_id;
  } finally {
    leftoverPm2Processes = await pm2.close();
    // Stopped however the loop ended: what follows starts with no bot running.
    await api.request('POST', `/api/v1/bots/${id}/stop`).catch(() => null);
  }
  await api.waitStatus(id, 'stopped', 20, new Deadline(30_000, `stopping ${id}`));

  // Codex-32's own account of each heal, from the bot's workflow history.
  const connection = await connectTemporal(env.temporal.address);
  const timelines = await healTimelines(
    new Client({ connection, namespace: env.platformEnv.TEMPORAL_NAMESPACE }),
    workflowId,
  ).finally(() => connection.close());
  await api.expect([200], 'DELETE', `/api/v1/bots/${id}`);

  const series = (kills: Kill[], f: (k: Kill) => number | null | undefined) =>
    kills.map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const heals = codexKills.map((k) => ({ k, t: timelines.get(k.generation) }));
  const codexSteps: Array<[string, number[]]> = [
    ['kill → exit seen by the runtime', heals.map(({ k, t }) => (t ? t.detectedAt - k.killedAt : Number.NaN))],
    ['exit seen → signal in the history', heals.map(({ t }) => (t ? t.signaledAt - t.detectedAt : Number.NaN))],
    [
      'signal → workflow task started',
      heals.map(({ t }) => (t?.taskStartedAt ? t.taskStartedAt - t.signaledAt : Number.NaN)),
    ],
    [
      'task started → launch scheduled *',
      heals.map(({ t }) =>
        t?.taskStartedAt && t.launchScheduledAt ? t.launchScheduledAt - t.taskStartedAt : Number.NaN,
      ),
    ],
    [
      'launch scheduled → started',
      heals.map(({ t }) =>
        t?.launchScheduledAt && t.launchStartedAt ? t.launchStartedAt - t.launchScheduledAt : Number.NaN,
      ),
    ],
    [
      'launch started → completed (spawn)',
      heals.map(({ t }) =>
        t?.launchStartedAt && t.launchCompletedAt ? t.launchCompletedAt - t.launchStartedAt : Number.NaN,
      ),
    ],
    [
      'launch completed → API says running',
      heals.map(({ k, t }) => (t?.launchCompletedAt ? k.killedAt + k.toRunningMs - t.launchCompletedAt : Number.NaN)),
    ],
    [
      'launch completed → first line (boot)',
      heals.map(({ k, t }) =>
        t?.launchCompletedAt && k.firstLineAt ? k.firstLineAt - t.launchCompletedAt : Number.NaN,
      ),
    ],
  ];
  const pm2Steps: Array<[string, number[]]> = [
    ['kill → exit event', pm2Kills.map((k) => (k.pm2Exit ? k.pm2Exit.at - k.killedAt : Number.NaN))],
    [
      'exit event → online event (spawn)',
      pm2Kills.map((k) => (k.pm2Exit && k.pm2Online ? k.pm2Online.at - k.pm2Exit.at : Number.NaN)),
    ],
    [
      'online event → describe says online',
      pm2Kills.map((k) => (k.pm2Online ? k.killedAt + k.toRunningMs - k.pm2Online.at : Number.NaN)),
    ],
    [
      'online event → first line (boot)',
      pm2Kills.map((k) => (k.pm2Online && k.firstLineAt ? k.firstLineAt - k.pm2Online.at : Number.NaN)),
    ],
  ];
  const finite = (xs: number[]) => summarize(xs.filter(Number.isFinite));

  const codexRunning = summarize(series(codexKills, (k) => k.toRunningMs));
  const codexFirstLine = summarize(
    series(codexKills, (k) => (k.firstLineAt === null ? null : k.firstLineAt - k.killedAt)),
  );
  const codexDetection = finite(codexSteps[0]![1]);
  const pm2Online = summarize(series(pm2Kills, (k) => k.toRunningMs));
  const pm2FirstLine = summarize(series(pm2Kills, (k) => (k.firstLineAt === null ? null : k.firstLineAt - k.killedAt)));
  const pm2Detection = finite(pm2Steps[0]![1]);
  const ratio = {
    runningP50: round(codexRunning.p50 / pm2Online.p50, 2),
    runningP99: round(codexRunning.p99 / pm2Online.p99, 2),
    firstLineP50: round(codexFirstLine.p50 / pm2FirstLine.p50, 2),
    firstLineP99: round(codexFirstLine.p99 / pm2FirstLine.p99, 2),
  };

  printFigures([
    ['PM2', `${pm2.version}, its own daemon (PM2_HOME=${pm2.home}), programmatic API, fork mode`],
    ['heal settings, Codex-32', `heal_policy ${JSON.stringify(IMMEDIATE_HEAL_POLICY)}`],
    ['heal settings, PM2', 'autorestart, restart_delay 0, max_restarts 1000 (PM2 restarts at once by default)'],
    [
      'both',
      `env ${JSON.stringify(BOT_ENV)}, cwd the bots directory; ${SETTLE_MS} ms pause after each new process's first line`,
    ],
  ]);
  console.log('"running again", two ways, measured alike on both sides:');
  console.log(
    '  manager says running: Codex-32 GET /api/v1/bots/{id} says running with a new instance_id; PM2 describe says',
  );
  console.log(
    `    online with a new pid (each polled every ${opts.pollMs} ms; both mean "the new process has been spawned")`,
  );
  console.log(
    '  first log line: the new process\'s "started" line, stamped by the bot itself: the like-for-like figure',
  );
  console.log('  (PM2 runs a Node script inside its ProcessContainerFork wrapper: its boot includes that wrapper)');
  console.log(
    'detection: Codex-32, the `at` its runtime stamps on the exit it reports (the instanceExited signal, read',
  );
  console.log(
    '  back from the workflow history); PM2, the `at` of its "exit" bus event. Both from the kill (Date.now()).',
  );
  printSummaryTable([
    ['Codex-32 kill → API says running', codexRunning],
    ['PM2      kill → describe says online', pm2Online],
    ['Codex-32 kill → first log line', codexFirstLine],
    ['PM2      kill → first log line', pm2FirstLine],
    ['Codex-32 death → detection', codexDetection],
    ['PM2      death → detection (exit event)', pm2Detection],
  ]);
  printFigures([
    [
      'ratio Codex-32 / PM2, manager says running',
      `p50 ${ratio.runningP50.toFixed(2)}×, p99 ${ratio.runningP99.toFixed(2)}×`,
    ],
    [
      'ratio Codex-32 / PM2, first log line',
      `p50 ${ratio.firstLineP50.toFixed(2)}×, p99 ${ratio.firstLineP99.toFixed(2)}×`,
    ],
    ['PM2 processes left after its daemon was killed', String(leftoverPm2Processes)],
  ]);
  console.log(
    'where the time goes, Codex-32 (stamps from the workflow history; the means of all rows but the last add up',
  );
  console.log('to kill → API says running; the last runs beside the one before it):');
  printSummaryTable(codexSteps.map(([label, xs]): [string, Summary] => [`  ${label}`, finite(xs)]));
  console.log(
    '  * the workflow task records the end, the incident and the status (local activities), then schedules the launch',
  );
  console.log('where the time goes, PM2 (stamps from its bus events; the same way):');
  printSummaryTable(pm2Steps.map(([label, xs]): [string, Summary] => [`  ${label}`, finite(xs)]));

  const targets = [
    checkTarget('kill→running Codex-32/PM2 p50 (first log line)', ratio.firstLineP50, 1.0, '×', 2),
    checkTarget('kill→running Codex-32/PM2 p99 (first log line)', ratio.firstLineP99, 1.0, '×', 2),
    checkTarget('kill→running Codex-32/PM2 p50 (manager says running)', ratio.runningP50, 1.0, '×', 2),
    checkTarget('kill→running Codex-32/PM2 p99 (manager says running)', ratio.runningP99, 1.0, '×', 2),
    checkTarget('death→detection p99', codexDetection.p99, 100, 'ms'),
  ];

  const monitor = opts.monitor.bots > 0 ? await benchMonitorCpu(env, opts.monitor) : null;
  if (monitor) targets.push(...monitor.targets);
  return {
    kills: codexKills.length,
    pm2Version: pm2.version,
    codex32: {
      killToRunningMs: rounded(codexRunning),
      killToFirstLineMs: rounded(codexFirstLine),
      deathToDetectionMs: rounded(codexDetection),
      steps: Object.fromEntries(codexSteps.map(([label, xs]) => [label, rounded(finite(xs))])),
    },
    pm2: {
      killToOnlineMs: rounded(pm2Online),
      killToFirstLineMs: rounded(pm2FirstLine),
      deathToDetectionMs: rounded(pm2Detection),
      steps: Object.fromEntries(pm2Steps.map(([label, xs]) => [label, rounded(finite(xs))])),
    },
    ratio,
    leftoverPm2Processes,
    monitor,
    targets,
  };
}

/** Waits for the process to run and write its first line, pauses, SIGKILLs it, and times its successor. */
async function killOnce(side: Supervised, pollMs: number, deadline: Deadline): Promise<Kill> {
  const before = await waitRunning(side, null, pollMs, deadline);
  if ((await firstLogLineAt(side.logFile, before.pid, new Deadline(10_000, 'a first line'))) === null) {
    throw new Error(`${side.name}: process ${before.pid} wrote no "started" line to ${side.logFile} within 10 s`);
  }
  await sleep(SETTLE_MS);
  const killedAt = Date.now();
  const t0 = performance.now();
  process.kill(before.pid, 'SIGKILL');
  const after = await waitRunning(side, before.generation, pollMs, deadline);
  const toRunningMs = performance.now() - t0;
  const firstLineAt = await firstLogLineAt(side.logFile, after.pid, new Deadline(10_000, 'a first line'));
  return { generation: before.generation, killedAt, toRunningMs, firstLineAt };
}

async function waitRunning(
  side: Supervised,
  previous: string | null,
  pollMs: number,
  deadline: Deadline,
): Promise<{ pid: number; generation: string }> {
  for (;;) {
    const now = await side.running();
    if (now && now.generation !== previous) return now;
    deadline.check(`${side.name}: waiting for ${previous ? 'a new process' : 'the process'} to run`);
    await sleep(pollMs);
  }
}
