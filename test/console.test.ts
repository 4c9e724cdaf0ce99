import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, logIn, NO_CHROMIUM, recordRequests } from './helpers/browser.js';
import {
  isAlive,
  registerBuildBot,
  startTestPlatform,
  waitFor,
  waitForBot,
  type TestPlatform,
} from './helpers/platform.js';

const ADMIN = { username: 'admin', password: 'Sturdy-Test-Passw0rd' };
const PASSWORD = 'Console-Passw0rd-9';

/**
 * The console in a real Chromium against a real platform: what a person
 * does (log in, click, see the row change), and what the page may not do
 * (act beyond its role, reach another origin).
 */
describe.skipIf(!chromiumPath())(`console in Chromium${chromiumPath() ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let t: TestPlatform;
  let browser: Browser;

  beforeAll(async () => {
    t = await startTestPlatform('postgres', {
      BOT_SAMPLE_INTERVAL_SECONDS: '0.5',
      TEMPORAL_UI_URL: 'http://temporal-ui.test:8233/',
    });
    for (const [username, role] of [
      ['console-viewer', 'viewer'],
      ['console-operator', 'operator'],
    ] as const)
      expect((await t.request('POST', '/api/v1/users', { username, password: PASSWORD, role })).status).toBe(201);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const row = (page: Page, id: string) => page.locator(`tr[data-bot="${id}"]`);
  const rowStatus = (page: Page, id: string) => row(page, id).getAttribute('data-status');

  it('serves the console: index.html not cached, fingerprinted assets immutable and compressed, a strict CSP', async () => {
    const index = await fetch(`${t.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('same-origin');
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/assets\/index-[\w-]{8}\.js$/);
    for (const encoding of ['br', 'gzip']) {
      const asset = await fetch(`${t.url}${script}`, { headers: { 'Accept-Encoding': encoding } });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('content-encoding')).toBe(encoding);
      expect(asset.headers.get('vary')).toBe('Accept-Encoding');
      expect((await asset.text()).length).toBeGreaterThan(1000); // fetch decodes it
    }
    const etag = (await fetch(`${t.url}${script}`)).headers.get('etag')!;
    expect((await fetch(`${t.url}${script}`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const missing = await fetch(`${t.url}/assets/index-00000000.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { detail: string }).detail).toMatch(/reload the page/);
  });

  it('an admin starts a bot with one click; the row follows the workflow live, through a kill and its healing, then stop and delete', async () => {
    const id = t.uniqueId('clicked');
    const page = await browser.newPage();
    const urls = recordRequests(page);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await logIn(page, t.url, ADMIN.username, ADMIN.password);

    // Registered from the form: the blueprint offered by the picker, a heal policy field.
    await page.goto(`${t.url}/#/fleet`);
    await page.getByRole('link', { name: 'Create bot' }).click();
    await page.getByLabel('Id', { exact: true }).fill(id);
    await page.getByLabel('Name', { exact: true }).fill(id);
    await page.getByLabel('Role', { exact: true }).fill('console-test');
    await expect.poll(() => page.locator('#blueprints option[value="sleeper.mjs"]').count()).toBe(1);
    await page.getByLabel('Blueprint', { exact: true }).fill('sleeper.mjs');
    await page.getByLabel('Backoff initial seconds').fill('0.5');
    await page.getByLabel('Backoff jitter').fill('0');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(new RegExp(`#/bots/${id}$`));
    const registered = (await t.request('GET', `/api/v1/bots/${id}`)).body;
    expect(registered).toMatchObject({
      status: 'registered',
      role: 'console-test',
      blueprint: 'sleeper.mjs',
      heal_policy: { backoff_initial_seconds: 0.5, backoff_jitter: 0, max_restarts: 5 },
    });

    await page.goto(`${t.url}/#/fleet`);
    await row(page, id).waitFor();
    expect(await rowStatus(page, id)).toBe('registered');
    await page.locator('.live-open').waitFor();
    // The list is virtualised on rows of 44 px: a row with all its buttons keeps to that (the default page is 1280 px wide).
    expect((await row(page, id).boundingBox())?.height).toBeCloseTo(44, 0);

    await page.getByRole('button', { name: `start ${id}`, exact: true }).click();
    // From the moment the registry says running, the row follows within a second, without a reload.
    await waitForBot(t, id, 'running', (b) => b.status === 'running');
    await page.locator(`tr[data-bot="${id}"][data-status="running"]`).waitFor({ timeout: 1_000 });
    expect(await rowStatus(page, id)).toBe('running');
    await expect.poll(() => page.locator('.notice-ok').count()).toBeGreaterThan(0);

    const running = (await t.request('GET', `/api/v1/bots/${id}`)).body;
    const seen: string[] = [];
    const watch = setInterval(() => {
      void rowStatus(page, id)
        .then((s) => s && seen.at(-1) !== s && seen.push(s))
        .catch(() => undefined);
    }, 20);
    process.kill(running.pid, 'SIGKILL');
    await waitForBot(t, id, 'running again', (b) => b.status === 'running' && b.pid !== running.pid);
    await waitFor(
      async () => (await rowStatus(page, id)) === 'running' && seen.includes('healing'),
      'healing, then running',
    );
    clearInterval(watch);
    // The relaunch passes through deploying on its way back.
    expect(seen.slice(seen.indexOf('healing')).filter((s) => s !== 'deploying')).toEqual(['healing', 'running']);
    await expect.poll(() => row(page, id).locator('[data-cell="incidents"]').textContent()).toBe('1');
    await expect.poll(() => row(page, id).locator('[data-cell="restarts"]').textContent()).toBe('1');

    await page.getByRole('button', { name: `stop ${id}`, exact: true }).click();
    await waitFor(async () => (await rowStatus(page, id)) === 'stopped', 'stopped in the page');
    await page.getByRole('button', { name: `delete ${id}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain(id);
    await dialog.getByRole('button', { name: `Delete ${id}` }).click();
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).status === 404, 'deleted');
    await row(page, id).waitFor({ state: 'detached' });
    expect(isAlive(running.pid)).toBe(false);

    expect(errors).toEqual([]);
    const origin = new URL(t.url);
    const foreign = urls.filter((u) => new URL(u).host !== origin.host);
    expect(foreign).toEqual([]);
    await page.close();
  });

  it('a viewer sees no action buttons; an operator demoted while the page is open is refused (403) and told so', async () => {
    const id = t.uniqueId('watched');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });

    const viewer = await browser.newPage();
    await logIn(viewer, t.url, 'console-viewer', PASSWORD);
    await viewer.goto(`${t.url}/#/fleet`);
    await row(viewer, id).waitFor();
    expect(await viewer.getByRole('button', { name: new RegExp(`^(start|stop|restart|delete) `) }).count()).toBe(0);
    expect(await viewer.getByRole('link', { name: 'Create bot' }).count()).toBe(0);
    await viewer.close();

    const page = await browser.newPage();
    await logIn(page, t.url, 'console-operator', PASSWORD);
    await page.goto(`${t.url}/#/fleet`);
    await row(page, id).waitFor();
    expect((await t.request('PATCH', '/api/v1/users/console-operator', { role: 'viewer' })).status).toBe(200);
    await page.getByRole('button', { name: `start ${id}`, exact: true }).click();
    const refusal = page.locator('.notice-refused');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/refused \((401|403)\)/);
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.status).toBe('registered');
    await page.close();
  });

  it("the fleet's figures follow the pushed samples, and a bot deleted by someone else leaves the page", async () => {
    const id = t.uniqueId('sampled');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    const page = await browser.newPage();
    // The figures the socket pushed for this bot, as the page received them.
    const pushed: Array<{ cpu_load: number; memory_usage_mb: number }> = [];
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        const m = JSON.parse(String(f.payload)) as { type: string; bots?: Array<{ bot_id: string }> };
        if (m.type === 'figures') pushed.push(...(m.bots!.filter((b) => b.bot_id === id) as unknown as typeof pushed));
      }),
    );
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/fleet`);
    await row(page, id).waitFor();
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitFor(async () => pushed.length >= 4, 'four pushes of its figures', 15_000);
    // No event since it runs: what the row shows is the latest push.
    const memory = row(page, id).locator('[data-cell="memory"]');
    await waitFor(async () => {
      const last = pushed.at(-1)!;
      const shown = await memory.textContent();
      const mb = last.memory_usage_mb;
      return shown === `${mb >= 100 ? mb.toFixed(0) : mb.toFixed(1)} MB`;
    }, 'the row showing the last pushed memory figure');

    // Stopped and deleted through the API, as another client would: the row goes, with no reload.
    await t.request('POST', `/api/v1/bots/${id}/stop`);
    await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped');
    expect((await t.request('DELETE', `/api/v1/bots/${id}`)).status).toBe(200);
    await row(page, id).waitFor({ state: 'detached' });
    await page.close();
  });

  it('the bot page: charts drawn from /history (the same points), and the log tail shows a line written after it opened', async () => {
    const id = t.uniqueId('charted');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      resources: { memory_limit_mb: 256 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running');
    const history = async () =>
      (await t.request('GET', `/api/v1/bots/${id}/history?window=15m`)).body.samples as Array<{
        memory_usage_mb: number | null;
      }>;
    await waitFor(async () => (await history()).length >= 3, 'three samples');

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/bots/${id}`);
    const openedAt = Date.now();
    await page
      .getByRole('heading', { name: 'History' })
      .waitFor()
      .catch(async (err: Error) => {
        throw new Error(
          `${err.message}\npage errors: ${errors.join('\n')}\n${(await page.locator('main').textContent()) ?? ''}`,
        );
      });
    const memory = page.locator('[data-chart="memory"]');
    await waitFor(async () => Number(await memory.getAttribute('data-points')) >= 3, 'the memory chart drawn');
    // uPlot drew on a canvas of the chart's size...
    const canvas = memory.locator('canvas');
    expect(await canvas.count()).toBe(1);
    expect(((await canvas.boundingBox()) ?? { width: 0 }).width).toBeGreaterThan(200);
    // ...the very points the API holds, in order.
    const shown = (await memory
      .locator('td[data-value]')
      .evaluateAll((cells) => cells.map((c) => c.getAttribute('data-value')))) as string[];
    const held = (await history()).map((p) => (p.memory_usage_mb === null ? '' : String(p.memory_usage_mb)));
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(held.slice(0, shown.length)).toEqual(shown);
    expect(shown.filter((v) => Number(v) > 1).length).toBeGreaterThanOrEqual(3);

    const log = page.locator('pre.log');
    await waitFor(
      async () =>
        ((await log.textContent()) ?? '')
          .split('\n')
          .some((l) => /^tick \d+$/.test(l) && Number(l.split(' ')[1]) > openedAt + 500),
      'a line written after the page opened',
      10_000,
    );
    expect(await page.getByRole('link', { name: `bot-${id} in Temporal UI` }).getAttribute('href')).toMatch(
      new RegExp(`/namespaces/[^/]+/workflows/bot-${id}$`),
    );
    await page.close();
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('the form shows a 422 at its fields and registers nothing; edit changes only what was touched', async () => {
    const id = t.uniqueId('formed');
    const page = await browser.newPage();
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/new-bot`);
    await page.getByLabel('Id', { exact: true }).fill(id);
    await page.getByLabel('Name', { exact: true }).fill(id);
    await page.getByLabel('Blueprint', { exact: true }).fill('sleeper.mjs');
    await page.getByLabel('Memory limit mb').fill('1');
    await page.getByLabel('Env', { exact: true }).fill('NODE_OPTIONS=--require /tmp/x.cjs\nGOOD=1');
    await page.getByRole('button', { name: 'Create' }).click();
    const memory = page.getByLabel('Memory limit mb');
    await expect.poll(() => memory.getAttribute('aria-invalid')).toBe('true');
    const memoryError = page.locator('#f-resources-memory_limit_mb-error');
    expect(await memoryError.textContent()).toMatch(/16/);
    expect(await page.getByLabel('Env', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#f-env-error').textContent()).toMatch(/NODE_OPTIONS/);
    expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(404);

    await memory.fill('64');
    await page.getByLabel('Env', { exact: true }).fill('GOOD=1');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(new RegExp(`#/bots/${id}$`));
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body).toMatchObject({
      resources: { memory_limit_mb: 64 },
      env: ['GOOD'],
    });

    await page.getByRole('link', { name: 'edit' }).click();
    await page.getByLabel('Memory limit mb').fill('512');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(new RegExp(`#/bots/${id}$`));
    const after = (await t.request('GET', `/api/v1/bots/${id}`)).body;
    expect(after.resources.memory_limit_mb).toBe(512);
    expect(after.env).toEqual(['GOOD']); // untouched: still set
    await page.close();
  });

  it("a recommendation's button does what it says (sets a memory limit) and the recommendation goes; an incident appears live and is acknowledged", async () => {
    const id = t.uniqueId('roomy');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: id,
      blueprint: 'sleeper.mjs',
      heal_policy: { backoff_initial_seconds: 0.2 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'sampled', (b) => b.status === 'running' && b.memory_usage_mb > 1);
    const recId = `no_memory_limit:${id}`;
    const recommendation = await waitFor(
      async () =>
        ((await t.request('GET', `/api/v1/guide/recommendations?bot_id=${id}`)).body.recommendations as any[]).find(
          (r) => r.id === recId,
        ),
      'the memory recommendation',
    );
    expect(recommendation.actions[0]).toMatchObject({ method: 'PATCH', path: `/api/v1/bots/${id}` });

    const page = await browser.newPage();
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/recommendations`);
    const item = page.locator(`li[data-recommendation="${recId}"]`);
    await item.waitFor();
    // The suggestion follows the bot's size of the moment: the button says which.
    const button = item.getByRole('button', { name: /^Set a limit of \d+ MB$/ });
    const limit = Number(/(\d+) MB/.exec((await button.textContent()) ?? '')?.[1]);
    expect(limit).toBeGreaterThanOrEqual(64);
    await button.click();
    await item.waitFor({ state: 'detached' });
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body.resources.memory_limit_mb).toBe(limit);

    await page.goto(`${t.url}/#/incidents`);
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();
    const current = await waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid !== null);
    process.kill(current.pid, 'SIGKILL');
    const incident = page.locator('li[data-incident]', { hasText: id }).filter({ hasText: 'process_exited' });
    await incident.first().waitFor();
    await incident
      .first()
      .getByRole('button', { name: /^acknowledge / })
      .click();
    await waitFor(
      async () =>
        ((await t.request('GET', `/api/v1/incidents?bot_id=${id}`)).body.incidents as any[]).some(
          (i) => i.state === 'acknowledged' && i.acknowledged_by === 'admin',
        ),
      'acknowledged from the page',
    );
    await page.close();
    await waitForBot(t, id, 'running again', (b) => b.status === 'running');
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('chat in the page: "start <bot>" runs; "delete <bot>" asks, and deletes only after the button', async () => {
    const id = t.uniqueId('chatted');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    const page = await browser.newPage();
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/chat`);
    await page.locator('.live-open').waitFor();
    const say = async (command: string) => {
      await page.getByLabel('Command').fill(command);
      await page.getByRole('button', { name: 'Send' }).click();
    };
    const platformLines = page.locator('ol.conversation li[data-from="platform"]');

    await say(`start ${id}`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running');
    await say(`stop ${id}`);
    await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped');
    const before = await platformLines.count();
    await say(`delete ${id}`);
    const confirm = page.getByRole('button', { name: 'Confirm' });
    await confirm.waitFor();
    expect(await platformLines.nth(before).textContent()).toContain(id);
    // Asked, not done: the bot is still there until the button is pressed.
    await new Promise((r) => setTimeout(r, 500));
    expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(200);
    await confirm.click();
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).status === 404, 'deleted after Confirm');
    expect(await page.getByRole('button', { name: 'Confirm' }).count()).toBe(0);
    await page.close();
  });

  it('push-to-talk: the mic button streams the microphone (a spoken "start parrot"); partial and final transcripts show, and the bot starts', async () => {
    await t.request('POST', '/api/v1/bots', { id: 'parrot', name: 'Parrot', blueprint: 'sleeper.mjs' });
    // The microphone is Chromium's fake capture device playing espeak-ng's speech, at 48 kHz as a real one would be.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'codex32-ptt-'));
    const spoken = path.join(dir, 'spoken.wav');
    const wav = path.join(dir, 'mic.wav');
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', spoken, 'start parrot']);
    execFileSync('sox', [spoken, '-r', '48000', '-c', '1', '-b', '16', wav, 'pad', '0.4', '1.2']);
    const seconds = Number(execFileSync('soxi', ['-D', wav], { encoding: 'utf8' }));
    const voiceBrowser = await launchChromium([
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
    ]);
    try {
      const context = await voiceBrowser.newContext();
      await context.grantPermissions(['microphone'], { origin: t.url });
      const page = await context.newPage();
      const urls = recordRequests(page);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // What the page streams: binary frames between audio_start and audio_end.
      let audioBytes = 0;
      page.on('websocket', (ws) =>
        ws.on('framesent', (f) => typeof f.payload !== 'string' && (audioBytes += f.payload.length)),
      );
      await logIn(page, t.url, ADMIN.username, ADMIN.password);
      await page.goto(`${t.url}/#/chat`);
      await page.locator('.live-open').waitFor();

      const mic = page.getByRole('button', { name: 'Hold to talk' });
      await mic.hover();
      await page.mouse.down();
      await page.getByRole('button', { name: /Listening/ }).waitFor();
      const heldFrom = Date.now();
      // Held while the clip plays: what is heard so far shows as it is heard.
      await page.locator('ol.conversation li.from-heard.partial').waitFor({ timeout: seconds * 1000 });
      await new Promise((r) => setTimeout(r, Math.max(0, seconds * 1000 - (Date.now() - heldFrom))));
      await page.mouse.up();

      const final = page.locator('ol.conversation li.from-heard:not(.partial)');
      await final.waitFor();
      // The grammar allows words around the command ("start the parrot bot").
      expect((await final.textContent())?.replace(/^Heard: /, '')).toMatch(/^start\b.*\bparrot\b/);
      // 16 kHz, 16-bit: about two bytes of PCM per 1/16000 s held (the worklet's last chunk included).
      expect(audioBytes).toBeGreaterThan(seconds * 16_000 * 2 * 0.8);
      expect(audioBytes).toBeLessThan((seconds + 2) * 16_000 * 2);
      await waitForBot(t, 'parrot', 'running after the spoken start', (b) => b.status === 'running');
      await page.getByRole('button', { name: 'Hold to talk' }).waitFor();
      expect(errors).toEqual([]);
      expect(urls.filter((u) => !u.startsWith(t.url) && !u.startsWith(t.url.replace('http', 'ws')))).toEqual([]);
    } finally {
      await voiceBrowser.close();
      await t.request('POST', '/api/v1/bots/parrot/stop');
    }
  });

  it("the bot page follows a deployment's phase and steps live (a crashing build rolled back), and rolls back to a healthy revision once confirmed", async () => {
    const id = t.uniqueId('deployed');
    await registerBuildBot(t, id);
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running');
    const gate = { min_healthy_seconds: 1, progress_deadline_seconds: 20 };
    const deploy = async (args: string[], ref: string) => {
      const d = await t.request('POST', '/api/v1/deployments', { bot_id: id, args, ref, health_gate: gate });
      expect(d.status).toBe(202);
      return (await t.request('GET', `/api/v1/deployments/${d.body.id}?wait=60`)).body;
    };
    expect((await deploy(['good', '2'], 'build-2')).phase).toBe('succeeded');

    const page = await browser.newPage();
    // The administrator: an earlier test of this file demotes console-operator to a viewer.
    await logIn(page, t.url, ADMIN.username, ADMIN.password);
    await page.goto(`${t.url}/#/bots/${id}`);
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();
    await page.locator('[data-phase="succeeded"]').waitFor();

    // A crashing build, deployed by someone else: the page shows its phases as they come, then why.
    const crash = t.request('POST', '/api/v1/deployments', {
      bot_id: id,
      args: ['crash'],
      ref: 'build-bad',
      health_gate: gate,
    });
    await page.locator('[data-phase="rolled_back"]').waitFor({ timeout: 30_000 });
    const steps = await page.getByRole('list', { name: 'Steps of the latest deployment' }).textContent();
    expect(steps).toMatch(/rolling back.*failed the gate: the new instance exited/s);
    expect(await page.locator('.deployment details pre').textContent()).toContain('cannot read its config');
    expect((await crash).status).toBe(202);
    await page.locator('tr[data-revision="4"]').getByText('(current)').waitFor();

    expect((await deploy(['good', '3'], 'build-3')).phase).toBe('succeeded');
    await page.locator('tr[data-revision="5"]').getByText('(current)').waitFor();
    await page.locator('tr[data-revision="2"]').getByRole('button', { name: 'roll back to 2' }).click();
    const dialog = page.getByRole('dialog', { name: `Roll ${id} back to revision 2?` });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Roll back to 2' }).click();
    await page.locator('tr[data-revision="6"]').getByText('(current)').waitFor({ timeout: 30_000 });
    await page.locator('[data-phase="succeeded"]').getByText('succeeded').waitFor({ timeout: 30_000 });
    expect(await page.locator('.deployment p').textContent()).toContain('rollback to revision 2');
    expect((await t.request('GET', `/api/v1/bots/${id}`)).body).toMatchObject({ revision: 6, args: ['good', '2'] });
    // A viewer sees the deployments, and no way back.
    const viewer = await browser.newPage();
    await logIn(viewer, t.url, 'console-viewer', PASSWORD);
    await viewer.goto(`${t.url}/#/bots/${id}`);
    await viewer.locator('tr[data-revision="6"]').waitFor();
    expect(await viewer.getByRole('button', { name: /roll back to/ }).count()).toBe(0);
    await viewer.close();
    await page.close();
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('axe-core finds no serious or critical violation on any view, light or dark', async () => {
    const id = t.uniqueId('axed');
    await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running');
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    for (const scheme of ['light', 'dark'] as const) {
      const page = await browser.newPage({ colorScheme: scheme });
      // axe runs through the debugger protocol: the page's own CSP (no inline script) stays in force.
      const audit = async (view: string) => {
        await page.evaluate(axe);
        const found = (await page.evaluate(async () => {
          const win = globalThis as any; // the browser's window: this function runs there
          const r = await win.axe.run(win.document);
          if (r.passes.length < 10) throw new Error(`axe checked too little (${r.passes.length} rules passed)`);
          return r.violations.map((v: any) => ({
            id: v.id,
            impact: v.impact,
            nodes: v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3),
          }));
        })) as Array<{ id: string; impact: string; nodes: string[] }>;
        const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect(bad, `${view} (${scheme})`).toEqual([]);
      };
      await page.goto(`${t.url}/`);
      await page.getByLabel('User name').waitFor();
      await audit('login');
      await logIn(page, t.url, ADMIN.username, ADMIN.password);
      await page.getByRole('heading', { name: 'Welcome' }).waitFor();
      await audit('home');
      for (const [hash, ready] of [
        ['#/fleet', `tr[data-bot="${id}"]`],
        [`#/bots/${id}`, '[data-chart="memory"]'],
        ['#/new-bot', '#f-id'],
        [`#/bots/${id}/edit`, '#f-name'],
        ['#/recommendations', '#recs-title'],
        ['#/incidents', 'h1'],
        ['#/chat', '#command'],
      ] as const) {
        await page.goto(`${t.url}/${hash}`);
        await page.locator(ready).first().waitFor();
        await audit(hash);
      }
      await page.close();
    }
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });
});
