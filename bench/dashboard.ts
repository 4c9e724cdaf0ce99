import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../lib/project-root.js';
import { launchChromium } from './browser.js';
import { ECHO_BOT, type BenchEnv } from './host.js';
import { IDLE_BOT, IDLE_BOT_SCRIPT } from './monitor-cpu.js';
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
import { Deadline, pool, sleep, type BotList } from './util.js';

export interface DashboardOptions {
  /** Bots registered; `running` of them started. */
  bots: number;
  running: number;
  /** Of the running bots, how many are restarted over and over while the page watches. */
  churnBots: number;
  churnSeconds: number;
  /** Login → fleet painted, measured this many times (fresh browser contexts). */
  logins: number;
  /** Bots in the large-fleet part (scrolling); 0 skips it. */
  largeFleet: number;
  /** Where to write a screenshot of each view (README); null: none. */
  screenshots: string | null;
}

export interface DashboardResult {
  bots: number;
  running: number;
  shippedKiB: { gzip: number; brotli: number; files: number };
  loginToFleetMs: Summary;
  eventToRowMs: Summary;
  events: { statusEvents: number; rowsUpdated: number; coalesced: number };
  heapMiB: { samples: number[]; first: number; last: number; max: number; growth: number };
  large: { bots: number; paintedMs: number; scrollFrameMs: Summary; longFrames: number } | null;
  targets: TargetResult[];
}

interface StatusEvent {
  bot: string;
  status: string;
  at: number;
}

interface RowMark {
  bot: string;
  status: string;
  t: number;
}

/**
 * The console in headless Chromium against a running fleet: what it ships
 * on first load, how fast an operator gets from login to a painted fleet,
 * how soon a status change the workflow recorded shows in its row, and
 * whether the page's heap stays flat while the fleet churns.
 */
export async function benchDashboard(env: BenchEnv, opts: DashboardOptions): Promise<DashboardResult> {
  const { api } = env;
  heading(`dashboard: ${opts.bots} bots registered, ${opts.running} running, in headless Chromium`);
  const role = `${env.runId}-dash`;
  const churnIds = Array.from({ length: opts.churnBots }, (_, i) => `${env.runId}-churn-${String(i).padStart(3, '0')}`);
  const otherIds = Array.from(
    { length: opts.bots - opts.churnBots },
    (_, i) => `${env.runId}-dash-${String(i).padStart(5, '0')}`,
  );
  const ids = [...churnIds, ...otherIds];
  const spec = { blueprint: ECHO_BOT, role, env: { INTERVAL_MS: '3600000' } };
  // The churned bots are shell scripts: a restart costs the machine milliseconds, not a Node boot, so what is
  // measured is the console's latency rather than two cores busy booting bots (start latency has its own benchmark).
  writeFileSync(path.join(env.botsDir, IDLE_BOT), IDLE_BOT_SCRIPT);
  const churned = new Set(churnIds);
  const registered = await pool(ids.length, 8, new Deadline(600_000, 'registering the dashboard fleet'), (i) =>
    api.registerBot(ids[i]!, churned.has(ids[i]!) ? { ...spec, blueprint: IDLE_BOT } : spec),
  );
  if (registered < ids.length) throw new Error(`registered only ${registered} of ${ids.length} bots in time`);
  const toStart = ids.slice(0, opts.running);
  const startBy = new Deadline(300_000, 'starting the dashboard fleet');
  await pool(toStart.length, 8, startBy, async (i) => {
    // A busy worker may not answer within the API's wait (503): the start is asked again.
    while ((await api.expect([202, 503], 'POST', `/api/v1/bots/${toStart[i]}/start`)).status === 503)
      startBy.check(`starting ${toStart[i]}`);
  });
  const upBy = new Deadline(300_000, `${opts.running} bots running`);
  for (;;) {
    const list = await api.expect<BotList>([200], 'GET', `/api/v1/bots?role=${role}&status=running&limit=1`);
    if (list.body.total >= opts.running) break;
    upBy.check(`${list.body.total} running`);
    await sleep(500);
  }
  const targets: TargetResult[] = [];
  const username = env.platformEnv.ADMIN_USERNAME!;
  const password = env.platformEnv.ADMIN_PASSWORD!;
  const browser = await launchChromium();
  try {
    const shipped = await shippedSize(api.baseUrl);
    const loginMs: number[] = [];
    for (let i = 0; i < opts.logins; i++)
      loginMs.push(await loginToFleet(browser, api.baseUrl, username, password, await fleetSize(env)));

    // The page that watches the churn: the fleet view filtered to the churned bots (the rows on screen).
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await context.newPage();
    await logIn(page, api.baseUrl, username, password, '#/fleet');
    await page
      .locator(`[data-count="running"]`)
      .filter({ hasText: String(opts.running) })
      .waitFor({ timeout: 60_000 });
    if (opts.screenshots) {
      // An incident to show: one bot's process killed, and healed.
      const victim = (await api.expect<{ pid: number }>([200], 'GET', `/api/v1/bots/${churnIds[1]}`)).body;
      process.kill(victim.pid, 'SIGKILL');
      const healedBy = new Deadline(30_000, 'the killed bot healed');
      const pidOf = async () =>
        (await api.expect<{ pid: number | null }>([200], 'GET', `/api/v1/bots/${churnIds[1]}`)).body.pid;
      while ((await pidOf()) === victim.pid) {
        healedBy.check();
        await sleep(200);
      }
      await screenshots(browser, api.baseUrl, username, password, churnIds[0]!, opts.screenshots);
    }
    await page.getByLabel('Search').fill(`${env.runId}-churn`);
    await page.locator(`tr[data-bot="${churnIds.at(-1)}"]`).waitFor();
    await page.evaluate(WATCH_ROWS);
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { usedSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
      return round(usedSize / 1048576, 2);
    };

    // Every status event of the churned bots, with the time the worker recorded it.
    const events: StatusEvent[] = [];
    const socket = await eventSocket(api.baseUrl, username, password);
    const churnSet = new Set(churnIds);
    socket.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString('utf8')) as {
        type: string;
        kind?: string;
        bot_id?: string;
        status?: string;
        at?: string;
      };
      if (m.type === 'event' && m.kind === 'status' && churnSet.has(m.bot_id!))
        events.push({ bot: m.bot_id!, status: m.status!, at: Date.parse(m.at!) });
    });

    const heapSamples = [await heap()];
    const heapEvery = Math.max(10, Math.floor(opts.churnSeconds / 10)) * 1000;
    const end = Date.now() + opts.churnSeconds * 1000;
    let nextHeap = Date.now() + heapEvery;
    let restarts = 0;
    heading(`churn: ${opts.churnBots} bots restarted in turn for ${opts.churnSeconds} s while the page watches`);
    while (Date.now() < end) {
      const id = churnIds[restarts++ % churnIds.length]!;
      await api.expect([202, 409], 'POST', `/api/v1/bots/${id}/restart`);
      await sleep(250);
      if (Date.now() >= nextHeap) {
        heapSamples.push(await heap());
        nextHeap += heapEvery;
      }
    }
    await sleep(2_000);
    heapSamples.push(await heap());
    socket.close();
    const marks = (await page.evaluate('window.benchMarks')) as RowMark[];
    const { latencies, coalesced } = matchEvents(events, marks);
    await context.close();

    const large =
      opts.largeFleet > opts.bots ? await largeFleet(env, browser, opts.largeFleet, spec, username, password) : null;

    const loginSummary = summarize(loginMs);
    const eventSummary = summarize(latencies);
    printFigures([
      [
        'shipped on first load (JS + CSS)',
        `${shipped.gzip.toFixed(1)} KiB gzip, ${shipped.brotli.toFixed(1)} KiB brotli (${shipped.files} files)`,
      ],
      ['restarts during the churn', String(restarts)],
      [
        'status events of churned bots / rows updated / coalesced',
        `${events.length} / ${latencies.length} / ${coalesced}`,
      ],
      [
        'page JS heap after GC (MiB), first → last (max)',
        `${heapSamples[0]} → ${heapSamples.at(-1)} (${Math.max(...heapSamples)})`,
      ],
      ['heap samples (MiB)', heapSamples.join(' ')],
      ...(large
        ? ([
            [`${large.bots} bots: login → fleet painted`, `${large.paintedMs.toFixed(0)} ms`],
            [
              `${large.bots} bots: frames while scrolling, p50/p99/max`,
              `${large.scrollFrameMs.p50.toFixed(1)} / ${large.scrollFrameMs.p99.toFixed(1)} / ${large.scrollFrameMs.max.toFixed(1)} ms (${large.longFrames} over 50 ms)`,
            ],
          ] as Array<[string, string]>)
        : []),
    ]);
    printSummaryTable([
      ['login → fleet view painted', loginSummary],
      ['status recorded → row updated', eventSummary],
    ]);
    const growth = round(heapSamples.at(-1)! - heapSamples[0]!, 2);
    targets.push(
      checkTarget('dashboard: JS + CSS shipped (gzip)', shipped.gzip, 150, 'KiB'),
      // The median of the sign-ins (the slowest is printed beside it: argon2's check shares two cores with 200 bots).
      checkTarget('dashboard: login → fleet painted (p50)', loginSummary.p50, 1000, 'ms', 0),
      checkTarget('dashboard: status recorded → row updated p99', eventSummary.p99, 150, 'ms'),
      // Flat: what a churning page holds after GC grows by no more than 2 MiB.
      checkTarget('dashboard: JS heap growth over the churn', Math.max(0, growth), 2, 'MiB', 2),
    );
    return {
      bots: opts.bots,
      running: opts.running,
      shippedKiB: shipped,
      loginToFleetMs: rounded(loginSummary),
      eventToRowMs: rounded(eventSummary),
      events: { statusEvents: events.length, rowsUpdated: latencies.length, coalesced },
      heapMiB: {
        samples: heapSamples,
        first: heapSamples[0]!,
        last: heapSamples.at(-1)!,
        max: Math.max(...heapSamples),
        growth,
      },
      large,
      targets,
    };
  } finally {
    await browser.close();
    // The fleet stops as it started, through the API: the cleanup's count of leftover bot processes stays honest.
    const stopBy = new Deadline(120_000, 'stopping the dashboard fleet');
    await pool(toStart.length, 16, stopBy, async (i) => {
      // A bot in the middle of a restart refuses the stop (409) until it is running again: asked again.
      while ([409, 503].includes((await api.request('POST', `/api/v1/bots/${toStart[i]}/stop`)).status)) {
        if (stopBy.expired) return;
        await sleep(200);
      }
    });
    const downBy = new Deadline(120_000, 'the dashboard fleet stopped');
    while (!downBy.expired) {
      const list = await api.expect<BotList>([200], 'GET', `/api/v1/bots?role=${role}&status=stopped&limit=1`);
      if (list.body.total >= toStart.length) break;
      await sleep(500);
    }
  }
}

// Run in the page (as source: this file is compiled for Node, without the DOM's types).

/** Notes when each row of the fleet table shows a status: attribute changes and rows added. */
const WATCH_ROWS = `(() => {
  window.benchMarks = [];
  const mark = (tr) => {
    const bot = tr.getAttribute && tr.getAttribute('data-bot');
    if (bot) window.benchMarks.push({ bot, status: tr.getAttribute('data-status'), t: Date.now() });
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') mark(r.target);
      else for (const n of r.addedNodes) mark(n);
    }
  }).observe(document.querySelector('table.bots tbody'), {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
  });
})()`;

/** Scrolls the fleet table a screen per frame, top to bottom (a person dragging the bar); each frame's time. */
const SCROLL_THROUGH = `new Promise((resolve) => {
  const scroller = document.querySelector('.table-scroll');
  const times = [];
  let last = performance.now();
  const step = () => {
    const now = performance.now();
    times.push(now - last);
    last = now;
    if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2) return resolve(times.slice(1));
    scroller.scrollTop += scroller.clientHeight;
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})`;

/** What the first load ships: the index's scripts and styles, compressed as the platform serves them. */
async function shippedSize(baseUrl: string): Promise<{ gzip: number; brotli: number; files: number }> {
  const html = readFileSync(path.join(projectRoot(), 'dist', 'console', 'index.html'), 'utf8');
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  let gzip = 0;
  let brotli = 0;
  for (const a of assets) {
    gzip += await encodedBytes(`${baseUrl}${a}`, 'gzip');
    brotli += await encodedBytes(`${baseUrl}${a}`, 'br');
  }
  return { gzip: round(gzip / 1024), brotli: round(brotli / 1024), files: assets.length };
}

/** The bytes on the wire (not decoded): fetch would decode them. */
function encodedBytes(url: string, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'Accept-Encoding': encoding } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url} answered ${res.statusCode}`));
        if (res.headers['content-encoding'] !== encoding) reject(new Error(`${url} was not sent as ${encoding}`));
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject);
  });
}

/** The sign-in page at `hash`, filled in, not yet sent. */
async function fillSignIn(page: Page, baseUrl: string, username: string, password: string, hash: string) {
  await page.goto(`${baseUrl}/${hash}`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
}

async function logIn(page: Page, baseUrl: string, username: string, password: string, hash: string): Promise<void> {
  await fillSignIn(page, baseUrl, username, password, hash);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * A fresh context (nothing cached): from the sign-in click to the first frame
 * after the fleet's rows and its full count are in the page, timed in the
 * page itself (the driver's own round trips are not the page's).
 */
async function loginToFleet(
  browser: Browser,
  baseUrl: string,
  username: string,
  password: string,
  total: number,
): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  await fillSignIn(page, baseUrl, username, password, '#/fleet');
  await page.evaluate(timePainted(total));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForFunction(() => (globalThis as { benchPainted?: number }).benchPainted !== undefined, undefined, {
    timeout: 30_000,
  });
  const ms = (await page.evaluate('window.benchPainted - window.benchClicked')) as number;
  await context.close();
  return ms;
}

/** Notes the sign-in click, and the first frame drawn once the fleet's rows and "N of N shown" are in. */
const timePainted = (total: number) => `(() => {
  const shown = ${JSON.stringify(`${total} of ${total} shown`)};
  document.querySelector('button[type=submit]').addEventListener('click', () => (window.benchClicked = performance.now()), true);
  const observer = new MutationObserver(() => {
    if (!document.querySelector('table.bots tbody tr[data-bot]') || !document.body.textContent.includes(shown)) return;
    observer.disconnect();
    // The frame's callbacks run before it is drawn; a task queued from them runs after.
    requestAnimationFrame(() => setTimeout(() => (window.benchPainted = performance.now()), 0));
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
})()`;

/** Every bot registered (the benchmark's own, and the warm-up's). */
async function fleetSize(env: BenchEnv): Promise<number> {
  return (await env.api.expect<BotList>([200], 'GET', '/api/v1/bots?limit=1')).body.total;
}

/** An administrator's command socket, subscribed to the whole fleet. */
async function eventSocket(baseUrl: string, username: string, password: string): Promise<WebSocket> {
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  const { access_token: token } = (await login.json()) as { access_token: string };
  const ws = new WebSocket(
    `${baseUrl.replace(/^http/, 'ws')}/ws/command/${username}?token=${encodeURIComponent(token)}`,
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', bots: '*' }));
  return ws;
}

/**
 * Each status event against the first time its row showed that status after
 * the worker recorded it, and before the bot's next event of the same status
 * (its next restart). An event its row never showed was overtaken by the
 * next one before the page rendered (both arrived within one frame): coalesced.
 */
function matchEvents(events: StatusEvent[], marks: RowMark[]): { latencies: number[]; coalesced: number } {
  const group = <T extends { bot: string }>(items: T[]) => {
    const by = new Map<string, T[]>();
    for (const x of items) by.set(x.bot, [...(by.get(x.bot) ?? []), x]);
    return by;
  };
  const marksByBot = group(marks);
  const latencies: number[] = [];
  let coalesced = 0;
  for (const [bot, list] of group(events)) {
    const rowMarks = marksByBot.get(bot) ?? [];
    let from = 0;
    list.forEach((e, i) => {
      const until = list.slice(i + 1).find((x) => x.status === e.status)?.at ?? Infinity;
      // Date.parse of the event's ISO time drops sub-millisecond parts: 1 ms of slack.
      const k = rowMarks.findIndex((m, j) => j >= from && m.status === e.status && m.t >= e.at - 1 && m.t < until);
      if (k < 0) {
        coalesced++;
        return;
      }
      latencies.push(Math.max(0, rowMarks[k]!.t - e.at));
      from = k + 1;
    });
  }
  return { latencies, coalesced };
}

/** Registers bots up to `size`, then: login → painted, and the frames while the fleet view is scrolled through. */
async function largeFleet(
  env: BenchEnv,
  browser: Browser,
  size: number,
  spec: { blueprint: string; role: string; env: Record<string, string> },
  username: string,
  password: string,
): Promise<NonNullable<DashboardResult['large']>> {
  const { api } = env;
  const have = await fleetSize(env);
  const more = Array.from(
    { length: Math.max(0, size - have) },
    (_, i) => `${env.runId}-large-${String(i).padStart(5, '0')}`,
  );
  heading(`${size} bots: ${more.length} more registered, then the fleet view scrolled through`);
  await pool(more.length, 8, new Deadline(900_000, 'registering the large fleet'), (i) =>
    api.registerBot(more[i]!, spec),
  );
  const total = await fleetSize(env);
  const paintedMs = await loginToFleet(browser, api.baseUrl, username, password, total);
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  await logIn(page, api.baseUrl, username, password, '#/fleet');
  await page.getByText(`${total} of ${total} shown`).waitFor({ timeout: 60_000 });
  const frames = (await page.evaluate(SCROLL_THROUGH)) as number[];
  await context.close();
  return {
    bots: size,
    paintedMs: round(paintedMs),
    scrollFrameMs: rounded(summarize(frames)),
    longFrames: frames.filter((f) => f > 50).length,
  };
}

/** A screenshot of each main view, for the README. */
async function screenshots(
  browser: Browser,
  baseUrl: string,
  username: string,
  password: string,
  botId: string,
  dir: string,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const scheme of ['light', 'dark'] as const) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 860 }, colorScheme: scheme });
    const page = await context.newPage();
    await logIn(page, baseUrl, username, password, '');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    for (const [name, hash, ready] of [
      ['home', '', 'h1'],
      ['fleet', '#/fleet', 'tr[data-bot]'],
      ['bot', `#/bots/${botId}`, '[data-chart="memory"]'],
      ['new-bot', '#/new-bot', '#f-id'],
      ['recommendations', '#/recommendations', '#recs-title'],
      ['incidents', '#/incidents', 'h1'],
      ['chat', '#/chat', '#command'],
    ] as const) {
      if (scheme === 'dark' && name !== 'fleet') continue;
      await page.goto(`${baseUrl}/${hash}`);
      await page.locator(ready).first().waitFor();
      if (name === 'chat') {
        // A conversation, not an empty box: one command and its answer.
        await page.getByLabel('Command').fill(`what is ${botId} doing`);
        await page.getByRole('button', { name: 'Send' }).click();
        await page.locator('ol.conversation li[data-from="platform"]').first().waitFor();
      }
      await sleep(700);
      await page.screenshot({ path: path.join(dir, `${name}${scheme === 'dark' ? '-dark' : ''}.png`) });
    }
    await context.close();
  }
  console.log(`screenshots of each view written to ${dir}`);
}
