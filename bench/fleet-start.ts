import { ECHO_BOT, type BenchEnv } from './host.js';
import {
  findBotProcesses,
  formatHostMemory,
  hostMemory,
  killLeftovers,
  readMemory,
  totalRss,
  type HostMemory,
} from './proc.js';
import {
  checkTarget,
  heading,
  mib,
  printFigures,
  printSummaryTable,
  round,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, pool, sleep, type BotBody } from './util.js';

export interface FleetOptions {
  size: number;
  pollMs: number;
  listRequests: number;
}

export interface FleetResult {
  size: number;
  registerSeconds: number;
  startsAcceptedMs: number;
  startAckMs: Summary;
  rejectedStarts: number;
  allRunningMs: number | null;
  runningAt: { first: number | null; half: number | null; p90: number | null; all: number | null };
  running: number;
  memory: {
    hosts: HostMemory[];
    temporalRssMiB: number | null;
    botProcesses: number;
    botsTotalRssMiB: number;
    botsMeanRssMiB: number;
    botsTotalPssMiB: number;
    benchProcessRssMiB: number;
  };
  listWhileStartingMs: Summary;
  listWithFleetRunningMs: Summary;
  allStoppedMs: number | null;
  leftoverBotProcesses: number;
  targets: TargetResult[];
}

/**
 * Benchmark 2: N echo bots registered, N start requests fired at once, time
 * until the list endpoint reports all N running; memory with the fleet up;
 * then all stopped again, and no bot process may be left behind.
 */
export async function benchFleetStart(env: BenchEnv, opts: FleetOptions): Promise<FleetResult> {
  const { api } = env;
  const n = opts.size;
  heading(`${n} bots started at once (${ECHO_BOT}, INTERVAL_MS=3600000)`);
  const role = `${env.runId}-fleet`;
  const ids = Array.from({ length: n }, (_, i) => `${env.runId}-fleet-${String(i).padStart(4, '0')}`);
  const listPath = `/api/v1/bots?role=${role}&limit=1000`;

  const r0 = performance.now();
  const registered = await pool(n, 8, new Deadline(180_000, 'registering the fleet'), (i) =>
    api.registerBot(ids[i]!, { blueprint: ECHO_BOT, role, env: { INTERVAL_MS: '3600000' } }),
  );
  if (registered < n) throw new Error(`registered only ${registered} of ${n} bots within the time limit`);
  const registerSeconds = (performance.now() - r0) / 1000;

  const milestones: FleetResult['runningAt'] = { first: null, half: null, p90: null, all: null };
  let lastList: BotBody[] = [];
  let stopped = false;
  try {
    // Fire every start at once, and watch the list meanwhile.
    const t0 = performance.now();
    const ackTimes: number[] = [];
    let rejectedStarts = 0;
    const starts = Promise.all(
      ids.map(async (id) => {
        const res = await api
          .request('POST', `/api/v1/bots/${id}/start`, undefined, 60_000)
          .catch((err: unknown) => ({ status: 0, body: String(err), bytes: 0 }));
        if (res.status === 202) ackTimes.push(performance.now() - t0);
        else {
          rejectedStarts++;
          if (rejectedStarts <= 3)
            console.log(`start of ${id} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        }
      }),
    ).then(() => performance.now() - t0);

    const deadline = new Deadline(60_000, `waiting for ${n} bots to run`);
    let running = 0;
    let failed = 0;
    // How long each poll of the list took while the fleet started: the milestones are only as sharp as these.
    const pollTimes: number[] = [];
    while (!deadline.expired) {
      const p0 = performance.now();
      const res = await api.request<{ bots: BotBody[] }>('GET', listPath).catch(() => null);
      const at = performance.now() - t0;
      pollTimes.push(performance.now() - p0);
      if (res?.status === 200) {
        lastList = res.body.bots;
        running = lastList.filter((b) => b.status === 'running').length;
        failed = lastList.filter((b) => b.status === 'failed').length;
        if (running > 0) milestones.first ??= at;
        if (running >= n / 2) milestones.half ??= at;
        if (running >= n * 0.9) milestones.p90 ??= at;
        if (running === n) {
          milestones.all = at;
          break;
        }
        if (failed > 0 && running + failed === n) break;
      }
      await sleep(opts.pollMs);
    }
    const startsAcceptedMs = await starts;
    if (milestones.all === null) {
      console.log(`not all running: ${running} running, ${failed} failed of ${n} after ${round(deadline.ms / 1000)} s`);
      // Which ones, and what their workflows say: a benchmark that misses should say why.
      for (const b of lastList.filter((x) => x.status !== 'running').slice(0, 5)) {
        const detail = await api
          .request<BotBody & { status_reason?: string | null; desired_state?: string }>(
            'GET',
            `/api/v1/bots/${b.bot_id}`,
          )
          .catch(() => null);
        console.log(
          `  ${b.bot_id}: ${b.status}, desired ${detail?.body.desired_state ?? '?'}: ${detail?.body.status_reason ?? ''}`,
        );
      }
    }

    // Memory with the fleet up, after a short settle.
    await sleep(1_000);
    const hosts = await hostMemory(env.hosts);
    const temporalMem = env.temporal.pid !== null ? await readMemory(env.temporal.pid) : null;
    const pids = lastList.flatMap((b) => (b.status === 'running' && b.pid ? [b.pid] : []));
    const bots = await totalRss(pids);

    // The list endpoint with the fleet running: every running bot costs a /proc read.
    const listSamples: number[] = [];
    await pool(opts.listRequests, 4, new Deadline(60_000, 'listing the running fleet'), async () => {
      const s0 = performance.now();
      const res = await api.getRaw(listPath).catch(() => null);
      if (res?.status === 200) listSamples.push(performance.now() - s0);
    });

    // Stop them all at once; none may be left behind.
    const s0 = performance.now();
    await Promise.all(
      ids.map((id) => api.request('POST', `/api/v1/bots/${id}/stop`, undefined, 60_000).catch(() => null)),
    );
    const stopDeadline = new Deadline(90_000, `waiting for ${n} bots to stop`);
    let allStoppedMs: number | null = null;
    while (!stopDeadline.expired) {
      const res = await api.request<{ bots: BotBody[] }>('GET', listPath).catch(() => null);
      if (res?.status === 200 && res.body.bots.every((b) => b.status === 'stopped' || b.status === 'failed')) {
        allStoppedMs = performance.now() - s0;
        stopped = true;
        break;
      }
      await sleep(opts.pollMs);
    }
    // Stopped in the registry should mean gone from the machine; give stragglers a moment, then count.
    const goneDeadline = new Deadline(5_000, 'bot processes to exit');
    while (!goneDeadline.expired && (await findBotProcesses(env.botsDir)).length > 0) await sleep(50);
    const leftoverBotProcesses = await killLeftovers(env.botsDir);

    const result: Omit<FleetResult, 'targets'> = {
      size: n,
      registerSeconds: round(registerSeconds, 2),
      startsAcceptedMs: round(startsAcceptedMs),
      startAckMs: rounded(summarize(ackTimes)),
      rejectedStarts,
      allRunningMs: milestones.all === null ? null : round(milestones.all),
      runningAt: {
        first: milestones.first === null ? null : round(milestones.first),
        half: milestones.half === null ? null : round(milestones.half),
        p90: milestones.p90 === null ? null : round(milestones.p90),
        all: milestones.all === null ? null : round(milestones.all),
      },
      running,
      memory: {
        hosts,
        temporalRssMiB: temporalMem ? mib(temporalMem.rss) : null,
        botProcesses: bots.count,
        botsTotalRssMiB: mib(bots.bytes),
        botsMeanRssMiB: bots.count ? mib(bots.bytes / bots.count) : 0,
        botsTotalPssMiB: mib(bots.pssBytes),
        benchProcessRssMiB: mib(process.memoryUsage().rss),
      },
      listWhileStartingMs: rounded(summarize(pollTimes)),
      listWithFleetRunningMs: rounded(summarize(listSamples)),
      allStoppedMs: allStoppedMs === null ? null : round(allStoppedMs),
      leftoverBotProcesses,
    };
    const ms = (v: number | null) => (v === null ? 'not reached' : `${(v / 1000).toFixed(2)} s`);
    printFigures([
      [
        `register ${n} bots (8 at a time)`,
        `${result.registerSeconds.toFixed(2)} s (${(n / registerSeconds).toFixed(0)} bots/s)`,
      ],
      [`all ${n} start requests answered`, `${ms(startsAcceptedMs)} (${rejectedStarts} rejected)`],
      ['first bot running', ms(milestones.first)],
      [`${Math.ceil(n / 2)} running`, ms(milestones.half)],
      [`${Math.ceil(n * 0.9)} running`, ms(milestones.p90)],
      [`all ${n} running`, ms(milestones.all)],
      [`all ${n} stopped (stops fired at once)`, ms(allStoppedMs)],
      ['bot processes left behind after stop', String(leftoverBotProcesses)],
    ]);
    console.log(`memory with ${running} bots running:`);
    printFigures([
      ...hosts.map(formatHostMemory).map(([k, v]): [string, string] => [`  ${k}`, v]),
      ...(result.memory.temporalRssMiB !== null
        ? ([[`  Temporal dev server (pid ${env.temporal.pid}) VmRSS`, `${result.memory.temporalRssMiB} MiB`]] as Array<
            [string, string]
          >)
        : []),
      [
        `  ${bots.count} bot processes, total VmRSS`,
        `${result.memory.botsTotalRssMiB} MiB (${result.memory.botsMeanRssMiB} MiB each)`,
      ],
      [`  ${bots.count} bot processes, total PSS`, `${result.memory.botsTotalPssMiB} MiB (shared pages counted once)`],
      ['  benchmark process RSS', `${result.memory.benchProcessRssMiB} MiB`],
    ]);
    printSummaryTable([
      ['start request → 202 (all at once)', summarize(ackTimes)],
      ['GET fleet list while it starts (the poll)', summarize(pollTimes)],
      [`GET ${n} running bots (limit=1000, 4 at a time)`, summarize(listSamples)],
    ]);
    const targets = [
      checkTarget(`${n} bots start→all running`, milestones.all === null ? Number.NaN : milestones.all / 1000, 10, 's'),
    ];
    return { ...result, targets };
  } finally {
    // On any failure above, leave no fleet running for the next benchmark (a stop of a stopped bot is a harmless 409).
    if (!stopped) {
      await pool(ids.length, 16, new Deadline(30_000, 'stopping the fleet'), async (i) => {
        await api.request('POST', `/api/v1/bots/${ids[i]!}/stop`).catch(() => null);
      });
    }
  }
}
