import fs from 'node:fs/promises';
import path from 'node:path';
import { readProcStat } from '../runtime/proc.js';
import type { BenchEnv } from './host.js';
import {
  childPids,
  findBotProcesses,
  formatHostMemory,
  hostMemory,
  killLeftovers,
  readMemory,
  totalRss,
  type HostMemory,
} from './proc.js';
import { checkTarget, heading, mib, printFigures, round, type TargetResult } from './stats.js';
import { Deadline, pool, sleep, type BotBody } from './util.js';

export interface MonitorOptions {
  bots: number;
  seconds: number;
}

/** CPU time over a period, in percent of one core. */
export interface CpuFigures {
  seconds: number;
  /** The control plane: the platform process(es) and their spawner. */
  controlPlanePercent: number;
  /** The busiest window of one sampling interval. */
  maxWindowPercent: number;
  processes: Array<{ role: string; pid: number; percent: number }>;
  temporalPercent: number | null;
}

export interface MonitorResult {
  bots: number;
  running: number;
  sampleIntervalSeconds: number;
  allRunningSeconds: number | null;
  baseline: CpuFigures;
  withBots: CpuFigures;
  memory: {
    baseline: HostMemory[];
    withBots: HostMemory[];
    spawnerRssMiB: number | null;
    botsTotalPssMiB: number;
  };
  allStoppedSeconds: number | null;
  leftoverBotProcesses: number;
  targets: TargetResult[];
}

/** The lightest bot there is: a shell that says it started and becomes `sleep` (same pid, FIFO kept on fd 3). */
export const IDLE_BOT = 'idle_bot.sh';
export const IDLE_BOT_SCRIPT = `# Written by the heal benchmark: one line, then nothing but sleep.
echo "{\\"event\\":\\"started\\",\\"pid\\":$$}"
exec sleep 86400
`;

/**
 * The monitor's cost: CPU time of the control plane over `seconds` with no
 * bot running, then again with `bots` idle bots running (the sampler reads
 * every one of them each interval and writes the minute rollups); and its
 * memory. Then every bot is stopped and deleted, and none may be left.
 */
export async function benchMonitorCpu(env: BenchEnv, opts: MonitorOptions): Promise<MonitorResult> {
  const { api } = env;
  const sampleIntervalSeconds = Number(env.platformEnv.BOT_SAMPLE_INTERVAL_SECONDS ?? 5);
  const windowMs = sampleIntervalSeconds * 1000;
  heading(
    `monitor cost: control plane CPU and memory, 0 bots and then ${opts.bots} idle bots (${IDLE_BOT}), ${opts.seconds} s each, sampled every ${sampleIntervalSeconds} s`,
  );
  await fs.writeFile(path.join(env.botsDir, IDLE_BOT), IDLE_BOT_SCRIPT);

  const controlPlane = async () => {
    const out: Array<{ role: string; pid: number }> = [];
    for (const h of env.hosts) {
      out.push(h);
      for (const child of await childPids(h.pid)) out.push({ role: `child of ${h.role} (the spawner)`, pid: child });
    }
    return out;
  };

  const baseline = await measureCpu(await controlPlane(), env.temporal.pid, opts.seconds, windowMs);
  const baselineMemory = await hostMemory(env.hosts);

  const role = `${env.runId}-idle`;
  const ids = Array.from({ length: opts.bots }, (_, i) => `${env.runId}-idle-${String(i).padStart(4, '0')}`);
  const listPath = `/api/v1/bots?role=${role}&limit=1000`;
  const registered = await pool(ids.length, 8, new Deadline(300_000, 'registering the idle bots'), (i) =>
    api.registerBot(ids[i]!, { blueprint: IDLE_BOT, role }),
  );
  if (registered < ids.length)
    throw new Error(`registered only ${registered} of ${ids.length} idle bots within the time limit`);

  let running = 0;
  let allRunningSeconds: number | null = null;
  let allStoppedSeconds: number | null = null;
  let withBots: CpuFigures | undefined;
  let withBotsMemory: HostMemory[];
  let spawnerRssMiB: number | null;
  let botsTotalPssMiB: number;
  try {
    const t0 = performance.now();
    await pool(ids.length, 16, new Deadline(300_000, 'starting the idle bots'), async (i) => {
      await api.expect([202], 'POST', `/api/v1/bots/${ids[i]!}/start`, undefined, 60_000);
    });
    const deadline = new Deadline(Math.max(120_000, opts.bots * 500), `waiting for ${opts.bots} idle bots to run`);
    let list: BotBody[] = [];
    while (!deadline.expired) {
      const res = await api.request<{ bots: BotBody[] }>('GET', listPath).catch(() => null);
      if (res?.status === 200) {
        list = res.body.bots;
        running = list.filter((b) => b.status === 'running').length;
        if (running === ids.length) break;
        if (list.some((b) => b.status === 'failed'))
          throw new Error(`an idle bot failed: ${list.find((b) => b.status === 'failed')?.status_reason}`);
      }
      await sleep(1_000);
    }
    if (running === ids.length) allRunningSeconds = round((performance.now() - t0) / 1000, 1);
    else
      console.log(`only ${running} of ${ids.length} idle bots running after ${deadline.ms / 1000} s; measuring anyway`);

    // What follows the starts (status writes, first samples) settles before the measurement.
    await sleep(2 * windowMs);
    withBots = await measureCpu(await controlPlane(), env.temporal.pid, opts.seconds, windowMs);
    withBotsMemory = await hostMemory(env.hosts);
    const spawner = (await controlPlane()).find((p) => p.role.startsWith('child of'));
    const spawnerMemory = spawner ? await readMemory(spawner.pid) : null;
    spawnerRssMiB = spawnerMemory ? mib(spawnerMemory.rss) : null;
    botsTotalPssMiB = mib((await totalRss(list.flatMap((b) => (b.pid ? [b.pid] : [])))).pssBytes);

    const s0 = performance.now();
    await pool(ids.length, 16, new Deadline(300_000, 'stopping the idle bots'), async (i) => {
      await api.request('POST', `/api/v1/bots/${ids[i]!}/stop`, undefined, 60_000).catch(() => null);
    });
    const stopDeadline = new Deadline(Math.max(120_000, opts.bots * 500), `waiting for ${opts.bots} idle bots to stop`);
    while (!stopDeadline.expired) {
      const res = await api.request<{ bots: BotBody[] }>('GET', listPath).catch(() => null);
      if (res?.status === 200 && res.body.bots.every((b) => b.status === 'stopped' || b.status === 'failed')) {
        allStoppedSeconds = round((performance.now() - s0) / 1000, 1);
        break;
      }
      await sleep(1_000);
    }
  } finally {
    await pool(ids.length, 8, new Deadline(300_000, 'deleting the idle bots'), async (i) => {
      const res = await api.request('DELETE', `/api/v1/bots/${ids[i]!}`, undefined, 60_000).catch(() => null);
      // Not stopped yet (an earlier failure): stop, then delete.
      if (res?.status === 409) {
        await api.request('POST', `/api/v1/bots/${ids[i]!}/stop`).catch(() => null);
        await api.waitStatus(ids[i]!, 'stopped', 200, new Deadline(30_000, `stopping ${ids[i]!}`)).catch(() => null);
        await api.request('DELETE', `/api/v1/bots/${ids[i]!}`).catch(() => null);
      }
    });
  }
  const gone = new Deadline(10_000, 'idle bot processes to exit');
  while (!gone.expired && (await findBotProcesses(env.botsDir)).length > 0) await sleep(100);
  const leftoverBotProcesses = await killLeftovers(env.botsDir);

  const pct = (n: number) => `${n.toFixed(2)} % of one core`;
  const cpuRows = (label: string, f: CpuFigures): Array<[string, string]> => [
    [
      `${label}: control plane`,
      `${pct(f.controlPlanePercent)} (busiest ${sampleIntervalSeconds} s: ${f.maxWindowPercent.toFixed(2)} %)`,
    ],
    ...f.processes.map((p): [string, string] => [`  ${p.role} (pid ${p.pid})`, pct(p.percent)]),
    ...(f.temporalPercent !== null
      ? ([[`  Temporal dev server (not counted)`, pct(f.temporalPercent)]] as Array<[string, string]>)
      : []),
  ];
  printFigures([
    [
      `all ${ids.length} idle bots running`,
      allRunningSeconds === null
        ? `not reached (${running} running)`
        : `${allRunningSeconds} s after the first start request`,
    ],
    ...cpuRows(`no bots running, ${baseline.seconds} s`, baseline),
    ...cpuRows(`${running} bots running, ${withBots?.seconds ?? 0} s`, withBots ?? baseline),
    ...(withBots
      ? ([
          ['monitor cost (with bots − without)', pct(withBots.controlPlanePercent - baseline.controlPlanePercent)],
        ] as Array<[string, string]>)
      : []),
    ...baselineMemory.map(formatHostMemory).map(([k, v]): [string, string] => [`no bots: ${k}`, v]),
    ...withBotsMemory.map(formatHostMemory).map(([k, v]): [string, string] => [`${running} bots: ${k}`, v]),
    [`${running} bots: spawner VmRSS`, spawnerRssMiB === null ? '-' : `${spawnerRssMiB} MiB`],
    [`${running} bots: the bots' total PSS`, `${botsTotalPssMiB} MiB`],
    [
      `all ${ids.length} stopped (stops 16 at a time)`,
      allStoppedSeconds === null ? 'not reached' : `${allStoppedSeconds} s`,
    ],
    ['idle bot processes left after stop and delete', String(leftoverBotProcesses)],
  ]);
  if (env.mode === 'in-process')
    console.log(
      '(--host=in-process: the platform process is the benchmark process, so its CPU includes the benchmark client)',
    );
  if (env.engine === 'postgres')
    console.log(
      "(PostgreSQL: the database server's own CPU is not in these figures; with PGlite it runs inside the platform process and is)",
    );

  const targets = [
    checkTarget(
      `control plane CPU with ${running} bots`,
      withBots?.controlPlanePercent ?? Number.NaN,
      5,
      '% of a core',
      2,
    ),
  ];
  return {
    bots: ids.length,
    running,
    sampleIntervalSeconds,
    allRunningSeconds,
    baseline,
    withBots: withBots ?? baseline,
    memory: { baseline: baselineMemory, withBots: withBotsMemory, spawnerRssMiB, botsTotalPssMiB },
    allStoppedSeconds,
    leftoverBotProcesses,
    targets,
  };
}

/** CPU time (utime + stime from /proc) of each process over `seconds`, read every `windowMs`; the benchmark itself sleeps meanwhile. */
async function measureCpu(
  processes: Array<{ role: string; pid: number }>,
  temporalPid: number | null,
  seconds: number,
  windowMs: number,
): Promise<CpuFigures> {
  const cpuOf = async (pid: number) => (await readProcStat(pid))?.cpuSeconds ?? Number.NaN;
  const read = async () => ({
    at: performance.now(),
    cpu: await Promise.all(processes.map((p) => cpuOf(p.pid))),
    temporal: temporalPid === null ? null : await cpuOf(temporalPid),
  });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const first = await read();
  let previous = first;
  let maxWindowPercent = 0;
  const end = first.at + seconds * 1000;
  while (previous.at < end) {
    await sleep(Math.min(windowMs, end - previous.at));
    const now = await read();
    // A short last window would overstate its share.
    if (now.at - previous.at >= windowMs / 2)
      maxWindowPercent = Math.max(
        maxWindowPercent,
        ((sum(now.cpu) - sum(previous.cpu)) * 100_000) / (now.at - previous.at),
      );
    previous = now;
  }
  const elapsedMs = previous.at - first.at;
  const percent = (from: number, to: number) => round(((to - from) * 100_000) / elapsedMs, 2);
  return {
    seconds: round(elapsedMs / 1000, 1),
    controlPlanePercent: percent(sum(first.cpu), sum(previous.cpu)),
    maxWindowPercent: round(maxWindowPercent, 2),
    processes: processes.map((p, i) => ({ ...p, percent: percent(first.cpu[i]!, previous.cpu[i]!) })),
    temporalPercent:
      first.temporal === null || previous.temporal === null ? null : percent(first.temporal, previous.temporal),
  };
}
