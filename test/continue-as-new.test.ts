import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialState } from '../workflows/bot-state.js';
import type { botLifecycle } from '../workflows/bot-lifecycle.js';
import { botWorkflowId } from '../workflows/messages.js';
import { startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

describe('continue-as-new bounds a bot workflow history and carries its state', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a bot restarted many times keeps its state across runs', async () => {
    const id = t.uniqueId('can');
    expect(
      (await t.request('POST', '/api/v1/bots', { id, name: 'CAN', blueprint: 'sleeper.mjs', role: 'history' })).status,
    ).toBe(201);
    // Same workflow, with a small history budget so that the test sees several runs.
    const first = await t.platform.client.workflow.start<typeof botLifecycle>('botLifecycle', {
      workflowId: botWorkflowId(id),
      taskQueue: t.config.TEMPORAL_TASK_QUEUE,
      args: [{ botId: id, role: 'history', state: initialState(id, 'history'), maxHistoryEvents: 40 }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.TERMINATE_EXISTING,
    });
    const getBot = async () => (await t.request('GET', `/api/v1/bots/${id}`)).body;
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    await waitFor(async () => (await getBot()).status === 'running', 'running');
    for (let i = 1; i <= 6; i++) {
      const before = (await getBot()).pid;
      expect((await t.request('POST', `/api/v1/bots/${id}/restart`)).status).toBe(202);
      await waitFor(async () => {
        const b = await getBot();
        return b.status === 'running' && b.pid !== before && b.restart_count === i;
      }, `restart ${i}`);
    }
    const current = await t.platform.client.workflow.getHandle(botWorkflowId(id)).describe();
    expect(current.runId).not.toBe(first.firstExecutionRunId);
    const previous = await t.platform.client.workflow
      .getHandle(botWorkflowId(id), first.firstExecutionRunId)
      .describe();
    expect(previous.status.name).toBe('CONTINUED_AS_NEW');
    expect(current.historyLength).toBeLessThan(80);

    const state = await t.botState(id);
    const bot = await getBot();
    expect(state).toMatchObject({ status: 'running', desiredState: 'running', restartCount: 6 });
    expect(state.instance?.pid).toBe(bot.pid);
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitFor(async () => (await getBot()).status === 'stopped', 'stopped');
  });
});

describe('a deployment across its bot workflow continuing as new', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('hears every report the bot sends it, also one sent just before the run continued as new', async () => {
    const id = t.uniqueId('can-deploy');
    expect((await t.request('POST', '/api/v1/bots', { id, name: 'CAN', blueprint: 'sleeper.mjs' })).status).toBe(201);
    const first = await t.platform.client.workflow.start<typeof botLifecycle>('botLifecycle', {
      workflowId: botWorkflowId(id),
      taskQueue: t.config.TEMPORAL_TASK_QUEUE,
      args: [{ botId: id, role: 'general', state: initialState(id, 'general'), maxHistoryEvents: 30 }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.TERMINATE_EXISTING,
    });
    for (let i = 1; i <= 5; i++) {
      const d = await t.request('POST', '/api/v1/deployments', {
        bot_id: id,
        args: ['--build', String(i)],
        health_gate: { min_healthy_seconds: 1, progress_deadline_seconds: 20 },
      });
      expect(d.status).toBe(202);
      const done = await waitFor(async () => {
        const r = (await t.request('GET', `/api/v1/deployments/${d.body.id}?wait=30`)).body;
        return r.outcome ? r : undefined;
      }, `deployment ${i}`);
      expect(done.phase, JSON.stringify(done.steps)).toBe('succeeded');
    }
    const current = await t.platform.client.workflow.getHandle(botWorkflowId(id)).describe();
    expect(current.runId).not.toBe(first.firstExecutionRunId);
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
  });
});

describe('a command nobody can answer', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await startTestPlatform('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 503 after a bounded wait when no worker polls the task queue', async () => {
    const { BotWorkflows } = await import('../api/bot-workflows.js');
    const workflows = new BotWorkflows(t.platform.client, `nobody-${t.uniqueId('q')}`, 1_000);
    const id = t.uniqueId('orphan');
    await workflows.create({ id, role: 'r', status: 'registered' });
    const started = Date.now();
    const err = await workflows.command({ id, status: 'registered' } as never, 'start').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toMatchObject({ status: 503, kind: 'no-worker' });
    expect((err as Error).message).toMatch(/No worker answered within 1 s/);
    await t.platform.client.workflow.getHandle(`bot-${id}`).terminate('test done');
  });
});
