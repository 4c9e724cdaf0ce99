import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ECHO_BOT, type BenchEnv } from './host.js';
import {
  checkTarget,
  heading,
  printFigures,
  printSummaryTable,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, sleep } from './util.js';
import { botLogPath } from '../runtime/log-files.js';

export interface StartLatencyOptions {
  runs: number;
  warmup: number;
  bootRuns: number;
  pollMs: number;
}

export interface StartLatencyResult {
  runs: number;
  startToRunningMs: Summary;
  startAckMs: Summary;
  startToFirstLogLineMs: Summary | null;
  stopToStoppedMs: Summary;
  nodeBootMs: Summary;
  echoBotFirstLineMs: Summary;
  targets: TargetResult[];
}

/**
 * Benchmark 1: POST /start → GET /bots/{id} says "running", for the Node echo
 * bot, one bot started and stopped again and again; beside it, the bare cost
 * of booting Node on this machine, measured in the same run.
 */
export async function benchStartLatency(env: BenchEnv, opts: StartLatencyOptions): Promise<StartLatencyResult> {
  heading(`start → running: ${ECHO_BOT}, ${opts.runs} runs (+${opts.warmup} warm-up), polling every ${opts.pollMs} ms`);
  const { api } = env;
  const id = `${env.runId}-latency`;
  await api.registerBot(id, { blueprint: ECHO_BOT, role: 'latency', env: { INTERVAL_MS: '600000' } });
  const logFile = botLogPath(env.botLogsDir, id);

  const toRunning: number[] = [];
  const acks: number[] = [];
  const toFirstLine: number[] = [];
  const toStopped: number[] = [];
  const overall = new Deadline(Math.max(120_000, (opts.runs + opts.warmup) * 5_000), 'start-latency benchmark');
  for (let i = 0; i < opts.warmup + opts.runs && !overall.expired; i++) {
    const wallStart = Date.now();
    const t0 = performance.now();
    await api.expect([202], 'POST', `/api/v1/bots/${id}/start`);
    const ack = performance.now() - t0;
    const running = await api.waitStatus(id, 'running', opts.pollMs, new Deadline(30_000, `run ${i}: start → running`));
    const elapsed = performance.now() - t0;
    const firstLine = await firstLogLineAt(logFile, running.pid!, new Deadline(5_000, "the bot's first log line"));

    const s0 = performance.now();
    await api.expect([202], 'POST', `/api/v1/bots/${id}/stop`);
    await api.waitStatus(id, 'stopped', opts.pollMs, new Deadline(30_000, `run ${i}: stop → stopped`));
    const stopped = performance.now() - s0;
    if (i < opts.warmup) continue;
    toRunning.push(elapsed);
    acks.push(ack);
    toStopped.push(stopped);
    if (firstLine !== null) toFirstLine.push(firstLine - wallStart);
  }
  if (toRunning.length < opts.runs) console.log(`(time limit reached after ${toRunning.length} of ${opts.runs} runs)`);

  // Node's own boot on this machine, in the same run.
  const nodeBoot: number[] = [];
  const bootDeadline = new Deadline(60_000, 'node boot benchmark');
  for (let i = 0; i < opts.bootRuns && !bootDeadline.expired; i++)
    nodeBoot.push(await spawnToExit(process.execPath, ['-e', '']));
  const echoFirstLine: number[] = [];
  for (let i = 0; i < opts.bootRuns && !bootDeadline.expired; i++) {
    echoFirstLine.push(await spawnToFirstLine(process.execPath, [path.join(env.botsDir, ECHO_BOT)], env.botsDir));
  }

  const result: Omit<StartLatencyResult, 'targets'> = {
    runs: toRunning.length,
    startToRunningMs: rounded(summarize(toRunning)),
    startAckMs: rounded(summarize(acks)),
    startToFirstLogLineMs: toFirstLine.length ? rounded(summarize(toFirstLine)) : null,
    stopToStoppedMs: rounded(summarize(toStopped)),
    nodeBootMs: rounded(summarize(nodeBoot)),
    echoBotFirstLineMs: rounded(summarize(echoFirstLine)),
  };
  printSummaryTable([
    ['POST start → status running', summarize(toRunning)],
    ['POST start → 202 answer', summarize(acks)],
    ...(toFirstLine.length
      ? ([["POST start → bot's first log line *", summarize(toFirstLine)]] as Array<[string, Summary]>)
      : []),
    ['POST stop → status stopped', summarize(toStopped)],
    ["node -e '': spawn → exit", summarize(nodeBoot)],
    [`node ${ECHO_BOT}: spawn → first line`, summarize(echoFirstLine)],
  ]);
  if (toFirstLine.length)
    console.log('* from the "at" of the bot\'s "started" line in its log: wall clock, millisecond precision');
  printFigures([
    [
      'platform overhead (p50 running − p50 node boot)',
      `${(result.startToRunningMs.p50 - result.nodeBootMs.p50).toFixed(1)} ms`,
    ],
  ]);
  const targets = [
    checkTarget('start→running p50', result.startToRunningMs.p50, 250, 'ms'),
    checkTarget('start→running p99', result.startToRunningMs.p99, 500, 'ms'),
  ];
  return { ...result, targets };
}

/** Wall-clock time (ms since epoch) of the "started" line the echo bot with this pid wrote; null if none shows up in time. */
export async function firstLogLineAt(logFile: string, pid: number, deadline: Deadline): Promise<number | null> {
  while (!deadline.expired) {
    const text = await fs.readFile(logFile, 'utf8').catch(() => '');
    // Search from the end: the file holds every earlier run too.
    const lines = text.trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0 && i >= lines.length - 20; i--) {
      try {
        const entry = JSON.parse(lines[i]!) as { event?: string; pid?: number; at?: string };
        if (entry.event === 'started' && entry.pid === pid && entry.at) return Date.parse(entry.at);
      } catch {
        // not a JSON line
      }
    }
    await sleep(5);
  }
  return null;
}

function spawnToExit(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}`));
    });
  });
}

/** Spawn → first stdout line, then SIGTERM and wait for the exit (not timed). */
function spawnToFirstLine(command: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '', INTERVAL_MS: '600000' },
    });
    let elapsed: number | null = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    createInterface({ input: child.stdout! }).once('line', () => {
      elapsed = performance.now() - t0;
      child.kill('SIGTERM');
    });
    child.once('exit', () => {
      clearTimeout(timer);
      if (elapsed !== null) resolve(elapsed);
      else reject(new Error(`${command} ${args.join(' ')} exited before writing a line`));
    });
  });
}
