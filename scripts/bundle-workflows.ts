import fs from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { projectRoot } from '../lib/project-root.js';

/** Pre-bundles the workflow code so workers start fast and run exactly what was built. */
async function main(): Promise<void> {
  const root = projectRoot();
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(root, 'workflows', 'index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  const out = path.join(root, 'dist', 'workflow-bundle.js');
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, code);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
