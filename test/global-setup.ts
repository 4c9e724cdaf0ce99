import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createLogger } from '../lib/logger.js';
import { startDevServer, type DevServer } from '../bin/temporal-dev-server.js';
import { freePort } from './helpers/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

let dev: DevServer | undefined;
let dir: string | undefined;

/** One real Temporal dev server for the whole run; each test file gets its own task queue and database. */
export async function setup(project: TestProject): Promise<void> {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-temporal-'));
  dev = await startDevServer({
    dataDir: dir,
    logsDir: dir,
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    logger: createLogger({ LOG_LEVEL: 'warn', NODE_ENV: 'test' }, 'test-temporal'),
  });
  project.provide('temporalAddress', dev.address);
}

export async function teardown(): Promise<void> {
  await dev?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}
