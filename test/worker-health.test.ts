import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

describe('the worker health endpoint (WORKER_HEALTH_PORT)', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite', { WORKER_HEALTH_PORT: '0' });
  });
  afterAll(() => t?.close());

  it('answers /health, and /health/ready with the worker polling and its dependencies', async () => {
    const base = t.platform.workerHealthUrl!;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(base).not.toBe(t.url);
    const live = await fetch(`${base}/health`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: { ok: true }, temporal: { ok: true }, worker: { ok: true, runtime: 'local' } },
    });
    // Nothing else is served there.
    expect((await fetch(`${base}/api/v1/bots`)).status).toBe(404);
  });

  it('is off unless set, and a bad port is refused at start-up', () => {
    expect(loadConfig({}).WORKER_HEALTH_PORT).toBeUndefined();
    expect(loadConfig({ WORKER_HEALTH_PORT: '' }).WORKER_HEALTH_PORT).toBeUndefined();
    expect(loadConfig({ WORKER_HEALTH_PORT: '8001' }).WORKER_HEALTH_PORT).toBe(8001);
    expect(() => loadConfig({ WORKER_HEALTH_PORT: 'http' })).toThrow(/WORKER_HEALTH_PORT.*port number/);
    expect(() => loadConfig({ WORKER_HEALTH_PORT: '70000' })).toThrow(/WORKER_HEALTH_PORT/);
  });
});
