// Writes the API's OpenAPI document (dist/openapi.json) without any service running: the console's
// typed client is generated from it at build time. The routes only declare themselves here; the
// dependencies they would use to serve a request are never reached, and say so if they are.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createApp, type AppDepsInput } from '../api/app.js';
import { ApiMetrics } from '../api/middleware/metrics.js';
import { loadConfig } from '../lib/config.js';
import type { FleetEvents } from '../lib/fleet-events.js';
import { createLogger } from '../lib/logger.js';
import { projectRoot } from '../lib/project-root.js';
import { MemorySampleStore } from '../monitoring/sample-store.js';

function unreachable<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get(_, prop) {
      if (prop === 'then') return undefined;
      throw new Error(`${name}.${String(prop)} was used while only the OpenAPI document was being written`);
    },
  });
}

async function main(): Promise<void> {
  const root = projectRoot();
  const config = loadConfig({}, root);
  const samples = new MemorySampleStore(0);
  const deps: AppDepsInput = {
    config,
    db: unreachable('db'),
    dbEngine: 'pglite',
    workflows: unreachable('workflows'),
    samples,
    readLogs: () => Promise.reject(new Error('no logs while writing the document')),
    logger: createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'production' }),
    readiness: [],
    auth: unreachable('auth'),
    metrics: new ApiMetrics(unreachable('db'), samples, { defaultMetrics: false }),
    loginLimits: { account: unreachable('loginLimits'), address: unreachable('loginLimits') },
    requestLimit: unreachable('requestLimit'),
    clientAddress: () => null,
    apiKeys: unreachable('apiKeys'),
    events: unreachable<FleetEvents>('events'),
    socket: { voice: null },
  };
  const res = await createApp(deps).request('/openapi.json');
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
  const out = path.join(root, 'dist', 'openapi.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(await res.json(), null, 2) + '\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
