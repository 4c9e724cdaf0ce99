import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BotStatusKey, BotIdKey, BotRoleKey } from '../lib/search-attributes.js';
import { botWorkflowId } from '../workflows/messages.js';
import { isAlive, startTestPlatform, waitFor, type Engine, type TestPlatform } from './helpers/platform.js';

describe.each<Engine>(['postgres', 'pglite'])('bot lifecycle through the API on %s', (engine) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform(engine);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The registry (through the API) and the workflow (through its query) must tell the same story. */
  async function expectAgreement(id: string, status: string, desired: string) {
    const api = await t.request('GET', `/api/v1/bots/${id}`);
    expect(api.status).toBe(200);
    expect(api.body.status).toBe(status);
    expect(api.body.desired_state).toBe(desired);
    const state = await t.botState(id);
    expect(state.status).toBe(status);
    expect(state.desiredState).toBe(desired);
    expect(state.restartCount).toBe(api.body.restart_count);
    expect(state.instance?.id ?? null).toBe(api.body.instance_id);
    return api.body;
  }

  async function searchStatus(id: string) {
    const d = await t.platform.client.workflow.getHandle(botWorkflowId(id)).describe();
    return {
      status: d.typedSearchAttributes.get(BotStatusKey),
      id: d.typedSearchAttributes.get(BotIdKey),
      role: d.typedSearchAttributes.get(BotRoleKey),
    };
  }

  it('create → start → running → stop → stopped → delete', async () => {
    const id = t.uniqueId('life');
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Lifecycle bot',
      description: 'runs until stopped',
      blueprint: 'sleeper.mjs',
      role: 'analytics',
      env: { GREETING: 'hello' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      bot_id: id,
      name: 'Lifecycle bot',
      status: 'registered',
      desired_state: 'stopped',
      restart_count: 0,
    });
    expect(typeof created.body.created_at).toBe('string');
    expect(created.body.env).toEqual(['GREETING']);
    await expectAgreement(id, 'registered', 'stopped');
    expect(await searchStatus(id)).toEqual({ status: 'registered', id, role: 'analytics' });

    const start = await t.request('POST', `/api/v1/bots/${id}/start`);
    expect(start.status).toBe(202);
    expect(start.body).toMatchObject({ accepted: true, action: 'start', bot_id: id, desired_state: 'running' });

    const running = await waitFor(async () => {
      const r = await t.request('GET', `/api/v1/bots/${id}`);
      return r.body.status === 'running' ? r.body : undefined;
    }, 'running');
    expect(running.pid).toBeGreaterThan(0);
    expect(isAlive(running.pid)).toBe(true);
    const environ = readFileSync(`/proc/${running.pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`CODEX32_API_URL=${t.url}`);
    expect(environ).toContain(`CODEX32_BOT_ID=${id}`);
    expect(running.memory_usage_mb).toBeGreaterThan(0);
    expect(running.uptime_seconds).toBeGreaterThanOrEqual(0);
    await expectAgreement(id, 'running', 'running');
    await waitFor(async () => (await searchStatus(id)).status === 'running', 'search attribute BotStatus=running');

    const again = await t.request('POST', `/api/v1/bots/${id}/start`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.detail).toMatch(/already running.*restart/);

    const deleteRunning = await t.request('DELETE', `/api/v1/bots/${id}`);
    expect(deleteRunning.status).toBe(409);
    expect(deleteRunning.body.detail).toMatch(/Stop it first/);

    const stop = await t.request('POST', `/api/v1/bots/${id}/stop`);
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({ accepted: true, action: 'stop', desired_state: 'stopped' });
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'stopped', 'stopped');
    const stopped = await expectAgreement(id, 'stopped', 'stopped');
    expect(stopped.pid).toBeNull();
    await waitFor(async () => !isAlive(running.pid), 'process gone');
    await waitFor(async () => (await searchStatus(id)).status === 'stopped', 'search attribute BotStatus=stopped');
    const instance = await t.platform.registry.db
      .selectFrom('instances')
      .selectAll()
      .where('id', '=', running.instance_id)
      .executeTakeFirstOrThrow();
    expect(instance.ended_at).not.toBeNull();
    expect(instance.end_reason).toBe('stopped on request');

    const stopAgain = await t.request('POST', `/api/v1/bots/${id}/stop`);
    expect(stopAgain.status).toBe(409);

    const del = await t.request('DELETE', `/api/v1/bots/${id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ bot_id: id, deleted: true });
    expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(404);
    const description = await t.platform.client.workflow.getHandle(botWorkflowId(id)).describe();
    expect(description.status.name).toBe('COMPLETED');

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/codex32_workflow_operations_total\{operation="start",result="accepted"\} [1-9]/);
    expect(metrics).toMatch(/codex32_workflow_operations_total\{operation="start",result="rejected"\} [1-9]/);

    // The id is free again.
    const recreated = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Again',
      blueprint: 'sleeper.mjs',
      role: 'analytics',
    });
    expect(recreated.status).toBe(201);
    await expectAgreement(id, 'registered', 'stopped');
  });

  it('restart replaces the process and counts it', async () => {
    const id = t.uniqueId('restart');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'R', blueprint: 'sleeper.py', role: 'worker' })).status,
    ).toBe(201);
    expect((await t.request('POST', `/api/v1/bots/${id}/restart`)).status).toBe(409);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const first = await waitFor(async () => {
      const r = await t.request('GET', `/api/v1/bots/${id}`);
      return r.body.status === 'running' ? r.body : undefined;
    }, 'running');
    const restart = await t.request('POST', `/api/v1/bots/${id}/restart`);
    expect(restart.status).toBe(202);
    expect(restart.body.action).toBe('restart');
    const second = await waitFor(async () => {
      const r = await t.request('GET', `/api/v1/bots/${id}`);
      return r.body.status === 'running' && r.body.pid !== first.pid ? r.body : undefined;
    }, 'running again with a new pid');
    expect(second.restart_count).toBe(first.restart_count + 1);
    expect(isAlive(first.pid)).toBe(false);
    await expectAgreement(id, 'running', 'running');
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitFor(async () => (await t.request('GET', `/api/v1/bots/${id}`)).body.status === 'stopped', 'stopped');
  });

  it('lists bots with totals and counts by status, and patches a spec', async () => {
    const ids = [t.uniqueId('list'), t.uniqueId('list')];
    for (const id of ids)
      expect(
        (await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs', role: 'lister' })).status,
      ).toBe(201);
    const list = await t.request('GET', '/api/v1/bots?role=lister');
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(2);
    expect(list.body.bots.map((b: { bot_id: string }) => b.bot_id).sort()).toEqual([...ids].sort());
    const all = await t.request('GET', '/api/v1/bots');
    for (const key of ['registered', 'deploying', 'running', 'degraded', 'stopped', 'failed'])
      expect(typeof all.body.stats[key]).toBe('number');
    const sum = Object.values(all.body.stats as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(all.body.total).toBe(sum);

    const patched = await t.request('PATCH', `/api/v1/bots/${ids[0]}`, {
      name: 'Renamed',
      role: 'other',
      args: ['--fast'],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Renamed', role: 'other', args: ['--fast'] });
    const { BotRoleKey: roleKey } = await import('../lib/search-attributes.js');
    await waitFor(async () => {
      const d = await t.platform.client.workflow.getHandle(botWorkflowId(ids[0]!)).describe();
      return d.typedSearchAttributes.get(roleKey) === 'other';
    }, 'role search attribute');
    const toImage = await t.request('PATCH', `/api/v1/bots/${ids[1]}`, { image: 'ghcr.io/acme/bot:1' });
    expect(toImage.status).toBe(200);
    expect(toImage.body).toMatchObject({ image: 'ghcr.io/acme/bot:1', blueprint: null });
    const startImage = await t.request('POST', `/api/v1/bots/${ids[1]}/start`);
    expect(startImage.status).toBe(409);
    expect(startImage.body.detail).toMatch(/BOT_RUNTIME=kubernetes/);
  });
});
