import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { projectRoot } from '../lib/project-root.js';
import { ECHO_BOT, spawnHost, stopChild, tail, type BenchEnv } from './host.js';
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
import { LeanClient } from './http-client.js';
import { Api, Deadline, freePort, pool, sleep, type BotList } from './util.js';

export interface AuthOptions {
  /** Bots registered, so that GET /api/v1/bots returns a full default page. */
  bots: number;
  /** Requests per arm and route, one at a time (the overhead ratio). */
  sequential: number;
  /** Paced load: requests per second and seconds per arm and route. */
  rate: number;
  seconds: number;
}

interface Arm {
  name: 'auth on (JWT)' | 'auth bypassed';
  api: Api;
  child: ChildProcess;
}

type PacedResult = Summary & { errors: number; lateStarts: number; servedPerSecond: number };

interface RouteResult {
  path: string;
  sequential: { on: Summary; off: Summary; medianRatio: number; meanRatio: number };
  paced: { rate: number; on: PacedResult; off: PacedResult };
}

export interface AuthResult {
  routes: RouteResult[];
  targets: TargetResult[];
}

/**
 * Benchmark 4: the cost of authentication. Two API processes of the same
 * build serve the same registry: one checks every request (JWT verified,
 * its user looked up, the permission checked, the request limit counted),
 * the other runs the same routes with access control off. Measured in the
 * same run, alternating arms so that drift hits both alike:
 *  - one request at a time: the ratio of the two latencies (target <= 1.15);
 *  - paced at `rate` requests/s (open loop: latency counts from the
 *    scheduled start, so a stall is not hidden by fewer requests): p99.
 */
export async function benchAuthOverhead(env: BenchEnv, opts: AuthOptions): Promise<AuthResult> {
  heading(
    `auth overhead: GET /api/v1/bots/{id} and GET /api/v1/bots, JWT auth on vs bypassed, ${opts.rate} req/s paced`,
  );
  if (env.engine !== 'postgres') {
    throw new Error(
      'the auth benchmark runs two more API processes on the same registry: set DATABASE_URL (PGlite lives in one process)',
    );
  }
  const before = (await env.api.expect<BotList>([200], 'GET', '/api/v1/bots?limit=1')).body.total;
  await pool(
    Math.max(0, opts.bots - before),
    8,
    new Deadline(120_000, 'registering bots for the auth benchmark'),
    (i) =>
      env.api.registerBot(`${env.runId}-auth-${String(i).padStart(3, '0')}`, { blueprint: ECHO_BOT, role: 'idle' }),
  );
  const first = (await env.api.expect<BotList>([200], 'GET', '/api/v1/bots?limit=1')).body.bots[0]!.bot_id;

  const arms: Arm[] = [];
  const clients: LeanClient[] = [];
  try {
    for (const mode of ['enforced', 'off'] as const) {
      const port = await freePort();
      const logFile = path.join(env.root, 'logs', `api-host-${mode}.log`);
      const child = await spawnHost(
        path.join(projectRoot(), 'dist', 'bench', 'api-host.js'),
        { ...env.platformEnv, API_PORT: String(port) },
        env.root,
        logFile,
        [mode],
      );
      const api = new Api(`http://127.0.0.1:${port}`);
      const deadline = new Deadline(60_000, `API host (${mode}) ready`);
      while ((await api.request('GET', '/health/ready', undefined, 2_000).catch(() => null))?.status !== 200) {
        if (child.exitCode !== null)
          throw new Error(`the ${mode} API host exited; its log ends with:\n${await tail(logFile, 20)}`);
        deadline.check();
        await sleep(100);
      }
      arms.push({ name: mode === 'enforced' ? 'auth on (JWT)' : 'auth bypassed', api, child });
    }
    const login = await arms[0]!.api.expect<{ access_token: string }>([200], 'POST', '/api/v1/auth/login', {
      username: env.platformEnv.ADMIN_USERNAME,
      password: env.platformEnv.ADMIN_PASSWORD,
    });
    const on = new LeanClient(arms[0]!.api.baseUrl, { Authorization: `Bearer ${login.body.access_token}` });
    const off = new LeanClient(arms[1]!.api.baseUrl);
    clients.push(on, off);
    // A bypassed arm that still refused anonymous calls would make the comparison meaningless.
    if ((await off.get('/api/v1/bots')).status !== 200)
      throw new Error('the bypassed API host refused an anonymous request');
    if ((await arms[0]!.api.getRaw('/api/v1/bots')).status !== 401)
      throw new Error('the enforced API host answered an anonymous request');

    const routes: RouteResult[] = [];
    for (const route of [`/api/v1/bots/${first}`, '/api/v1/bots']) {
      for (const api of [on, off]) await sequential(api, route, 200); // warm-up
      const seq = { on: [] as number[], off: [] as number[] };
      for (let done = 0; done < opts.sequential; done += 100) {
        const n = Math.min(100, opts.sequential - done);
        seq.on.push(...(await sequential(on, route, n)));
        seq.off.push(...(await sequential(off, route, n)));
      }
      const sOn = summarize(seq.on);
      const sOff = summarize(seq.off);
      const pacedOn = await paced(on, route, opts.rate, opts.seconds);
      const pacedOff = await paced(off, route, opts.rate, opts.seconds);
      routes.push({
        path: route === '/api/v1/bots' ? route : '/api/v1/bots/{id}',
        sequential: {
          on: rounded(sOn, 2),
          off: rounded(sOff, 2),
          medianRatio: round(sOn.p50 / sOff.p50, 3),
          meanRatio: round(sOn.mean / sOff.mean, 3),
        },
        paced: { rate: opts.rate, on: pacedOn, off: pacedOff },
      });
    }

    printSummaryTable(
      routes.flatMap((r): Array<[string, Summary]> => [
        [`GET ${r.path}, auth on, 1 at a time`, r.sequential.on],
        [`GET ${r.path}, bypassed, 1 at a time`, r.sequential.off],
        [`GET ${r.path}, auth on, ${opts.rate}/s`, r.paced.on],
        [`GET ${r.path}, bypassed, ${opts.rate}/s`, r.paced.off],
      ]),
    );
    printFigures(
      routes.flatMap((r): Array<[string, string]> => [
        [
          `GET ${r.path}: overhead (1 at a time)`,
          `median ${r.sequential.medianRatio}x, mean ${r.sequential.meanRatio}x`,
        ],
        [
          `GET ${r.path}: offered ${opts.rate}/s`,
          `auth on: served ${r.paced.on.servedPerSecond}/s, p99 ${r.paced.on.p99} ms, ${r.paced.on.errors} errors; bypassed: served ${r.paced.off.servedPerSecond}/s, p99 ${r.paced.off.p99} ms, ${r.paced.off.errors} errors; client late starts ${r.paced.on.lateStarts}/${r.paced.off.lateStarts}`,
        ],
      ]),
    );
    const targets = routes.map((r) =>
      checkTarget(`GET ${r.path} auth overhead (median, 1 at a time)`, r.sequential.medianRatio, 1.15, 'x', 3),
    );
    return { routes, targets };
  } finally {
    for (const client of clients) client.close();
    for (const arm of arms) await stopChild(arm.child);
  }
}

async function sequential(api: LeanClient, route: string, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await api.get(route);
    if (res.status !== 200) throw new Error(`GET ${route} answered ${res.status}`);
    samples.push(performance.now() - t0);
  }
  return samples;
}

/** Open-loop load: request i is due at start + i/rate, and its latency counts from then. */
async function paced(api: LeanClient, route: string, rate: number, seconds: number): Promise<PacedResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const samples: number[] = [];
  const inFlight: Array<Promise<void>> = [];
  let errors = 0;
  let lateStarts = 0;
  const t0 = performance.now();
  for (let i = 0; i < total;) {
    const now = performance.now();
    while (i < total && t0 + i * interval <= now) {
      const due = t0 + i * interval;
      if (now - due > 5) lateStarts++; // the client itself fell behind (more than 5 ms)
      inFlight.push(
        api.get(route, 10_000).then(
          (res) => {
            if (res.status === 200) samples.push(performance.now() - due);
            else errors++;
          },
          () => void errors++,
        ),
      );
      i++;
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  // What the server actually got through: when it cannot keep up, the answers spread over a longer time than the schedule.
  const servedPerSecond = round(samples.length / ((performance.now() - t0) / 1000), 0);
  return { ...rounded(summarize(samples), 2), errors, lateStarts, servedPerSecond };
}
