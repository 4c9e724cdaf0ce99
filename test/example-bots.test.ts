import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

/** The example bots and the SDKs they use, as shipped in bots/, against a real platform. */
describe('example bots and the Node and Python SDKs', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', { BOT_SAMPLE_INTERVAL_SECONDS: '0.5' });
    await fs.cp(path.join(projectRoot(), 'bots'), t.config.paths.botsDir, {
      recursive: true,
      filter: (src) => !src.includes('__pycache__'),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['echo_bot.mjs', { INTERVAL_MS: '200' }],
    ['analytics_bot.py', { INTERVAL_SECONDS: '0.2' }],
  ])(
    '%s becomes running by its first SDK heartbeat and reports its work in every heartbeat',
    async (blueprint, env) => {
      const id = t.uniqueId(blueprint.split('_')[0]);
      const created = await t.request('POST', '/api/v1/bots', {
        id,
        name: id,
        blueprint,
        env,
        heartbeat_interval_seconds: 1,
      });
      expect(created.status).toBe(201);
      await t.request('POST', `/api/v1/bots/${id}/start`);
      const running = await waitFor(
        async () => {
          const b = (await t.request('GET', `/api/v1/bots/${id}`)).body;
          return b.status === 'running' ? b : undefined;
        },
        `${id} running`,
        30_000,
      );
      // Its heartbeats carry the work it did: requests counted, no errors.
      const me = await waitFor(
        async () => {
          const k = (await t.request('GET', `/api/v1/bots/${id}/knowledge?window=1m`)).body;
          return k.performance.heartbeat?.requests > 0 && k.performance.heartbeat.beats >= 2 ? k : undefined;
        },
        `${id} heartbeats with requests`,
        30_000,
      );
      expect(me.performance.heartbeat.errors).toBe(0);
      expect((await t.request('GET', `/api/v1/bots/${id}`)).body.error_rate).toBe(0);
      // Three intervals later it is still running: the SDK keeps beating.
      await new Promise((r) => setTimeout(r, 3_500));
      const still = (await t.request('GET', `/api/v1/bots/${id}`)).body;
      expect(still).toMatchObject({ status: 'running', pid: running.pid, restart_count: 0 });
      expect((await t.request('GET', `/api/v1/incidents?bot_id=${id}`)).body.total).toBe(0);

      await t.request('POST', `/api/v1/bots/${id}/stop`);
      await waitFor(
        async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'stopped',
        `${id} stopped`,
      );
      const logs = (await t.request('GET', `/api/v1/bots/${id}/logs?tail=200`)).body.lines as string[];
      expect(logs.join('\n')).not.toMatch(/heartbeat failed/);
    },
  );
});
