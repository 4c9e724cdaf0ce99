import { ECHO_BOT, type BenchEnv } from './host.js';
import { formatHostMemory, hostMemory, type HostMemory } from './proc.js';
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
import { Deadline, pool, type Api, type BotList } from './util.js';

export interface ListOptions {
  bots: number;
  requests: number;
  concurrency: number;
  fullPageRequests: number;
}

interface LoadResult {
  path: string;
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  meanBytes: number;
  latencyMs: Summary;
}

export interface ListResult {
  registeredBots: number;
  registeredNow: number;
  registerSeconds: number;
  /** The platform's memory with every bot registered (each has a lifecycle workflow the worker may keep cached). */
  memory: HostMemory[];
  /** One request at a time: the service time without queueing. */
  sequential: LoadResult;
  defaultPage: LoadResult;
  fullPage: LoadResult | null;
  targets: TargetResult[];
}

/**
 * Benchmark 3: GET /api/v1/bots with N bots registered: latency and
 * throughput of the default page (limit 200), and of limit=1000 (every bot).
 */
export async function benchListBots(env: BenchEnv, opts: ListOptions): Promise<ListResult> {
  const { api } = env;
  heading(
    `GET /api/v1/bots with ${opts.bots} registered bots: ${opts.requests} requests, ${opts.concurrency} at a time`,
  );

  // Top up to N registered bots (earlier benchmarks of this run may have registered some).
  const before = (await api.expect<BotList>([200], 'GET', '/api/v1/bots?limit=1')).body.total;
  const missing = Math.max(0, opts.bots - before);
  const r0 = performance.now();
  const added = await pool(missing, 8, new Deadline(300_000, 'registering bots for the list benchmark'), (i) =>
    api.registerBot(`${env.runId}-list-${String(i).padStart(4, '0')}`, { blueprint: ECHO_BOT, role: 'idle' }),
  );
  const registerSeconds = (performance.now() - r0) / 1000;
  const total = (await api.expect<BotList>([200], 'GET', '/api/v1/bots?limit=1')).body.total;
  if (added < missing) console.log(`(time limit reached: registered ${added} of ${missing})`);

  // Warm-up: JIT, connection pool, database caches.
  await load(api, '/api/v1/bots', 50, opts.concurrency, 30_000);
  const sequential = await load(api, '/api/v1/bots', Math.min(1000, opts.requests), 1, 60_000);
  const defaultPage = await load(api, '/api/v1/bots', opts.requests, opts.concurrency, 120_000);
  const fullPage =
    opts.fullPageRequests > 0
      ? await load(api, '/api/v1/bots?limit=1000', opts.fullPageRequests, opts.concurrency, 120_000)
      : null;
  const memory = await hostMemory(env.hosts);

  printFigures([
    [
      `registered bots`,
      `${total}${missing ? ` (${added} added in ${registerSeconds.toFixed(1)} s, ${(added / registerSeconds).toFixed(0)} bots/s, 8 at a time)` : ''}`,
    ],
    ...[sequential, defaultPage, ...(fullPage ? [fullPage] : [])].map((r): [string, string] => [
      `GET ${r.path} (${r.concurrency} at a time)`,
      `${r.requestsPerSecond.toFixed(0)} req/s, ${r.requests} requests in ${r.seconds.toFixed(2)} s, ${r.errors} errors, ${(r.meanBytes / 1024).toFixed(0)} KiB each`,
    ]),
    ...memory.map(formatHostMemory).map(([k, v]): [string, string] => [`${k} with ${total} bots registered`, v]),
  ]);
  printSummaryTable([
    ['GET /api/v1/bots, 1 at a time', sequential.latencyMs],
    [`GET /api/v1/bots (default page), ${opts.concurrency} at a time`, defaultPage.latencyMs],
    ...(fullPage
      ? ([[`GET /api/v1/bots?limit=1000, ${opts.concurrency} at a time`, fullPage.latencyMs]] as Array<
          [string, Summary]
        >)
      : []),
  ]);
  // The target is a latency: one request at a time. Under 8 concurrent clients on 2 cores the
  // figure measures queueing behind the client itself, and is reported beside it as throughput.
  const targets = [checkTarget('GET /api/v1/bots p99 (1 at a time)', sequential.latencyMs.p99, 20, 'ms')];
  return {
    registeredBots: total,
    registeredNow: added,
    registerSeconds: round(registerSeconds, 2),
    memory,
    sequential,
    defaultPage,
    fullPage,
    targets,
  };
}

async function load(
  api: Api,
  path: string,
  requests: number,
  concurrency: number,
  limitMs: number,
): Promise<LoadResult> {
  const samples: number[] = [];
  let errors = 0;
  let bytes = 0;
  const t0 = performance.now();
  const done = await pool(requests, concurrency, new Deadline(limitMs, `GET ${path}`), async () => {
    const s0 = performance.now();
    const res = await api.getRaw(path).catch(() => null);
    const elapsed = performance.now() - s0;
    if (res?.status === 200) {
      samples.push(elapsed);
      bytes += res.bytes;
    } else errors++;
  });
  const seconds = (performance.now() - t0) / 1000;
  if (done < requests) console.log(`(time limit reached for GET ${path}: ${done} of ${requests} requests)`);
  return {
    path,
    concurrency,
    requests: done,
    errors,
    seconds: round(seconds, 2),
    requestsPerSecond: round(done / seconds),
    meanBytes: samples.length ? Math.round(bytes / samples.length) : 0,
    latencyMs: rounded(summarize(samples)),
  };
}
