import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';
import { WORKFLOW_BUNDLE_PATH } from '../worker/create-worker.js';

/**
 * Histories recorded by earlier releases of the bot workflow must replay on
 * this one: after an upgrade, every running bot's workflow is replayed by the
 * new worker. Each fixture is a real history (temporal workflow show -o json)
 * from the commit in its name: a start, a heal without backoff, a restart and
 * a stop; a bot waiting for its first heartbeat, then stopped; deployments
 * (one that succeeded, one rolled back) and the bot they deployed.
 */
const fixtures = path.join(projectRoot(), 'test', 'fixtures');

describe('workflow histories from earlier releases replay on this one', () => {
  it.each(readdirSync(fixtures).filter((f) => f.startsWith('history-')))('%s', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, history, file);
  });
});
