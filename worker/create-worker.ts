import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities, type ActivityDeps } from '../activities/create-activities.js';
import { createDeploymentActivities } from '../activities/deployment-activities.js';
import type { FleetEvents } from '../lib/fleet-events.js';
import type { BotRuntime } from '../runtime/types.js';
import type { Config } from '../lib/config.js';
import { LOG_FILE_MAX_BYTES, LOG_FILES_KEPT, type Logger } from '../lib/logger.js';
import { projectRoot } from '../lib/project-root.js';
import { RotatingFile } from '../lib/rotating-file.js';
import type { Database } from '../registry/database.js';
import { reconcileInstances } from './adoption.js';
import { ArtifactCache, artifactLimitsOf } from '../runtime/artifact-cache.js';
import { artifactUpload } from '../registry/artifacts.js';
import { artifactsInUse } from '../registry/revisions.js';
import { createExitNotifier, forwardRuntimeEvents } from './runtime-events.js';
import { installTemporalLogging } from './temporal-logging.js';

export interface BotWorkerDeps {
  config: Pick<
    Config,
    | 'TEMPORAL_NAMESPACE'
    | 'TEMPORAL_TASK_QUEUE'
    | 'BOT_STOP_GRACE_SECONDS'
    | 'paths'
    | 'ARTIFACT_MAX_MB'
    | 'ARTIFACT_MAX_FILES'
    | 'ARTIFACT_KEEP_REVISIONS'
  >;
  temporalAddress: string;
  client: Client;
  db: Kysely<Database>;
  runtime: BotRuntime;
  logger: Logger;
  /** Mints bot tokens (CODEX32_BOT_TOKEN) with the API's signing key. */
  botToken?: (botId: string, instanceId: string) => Promise<string>;
  /** Where status changes and incidents are published. */
  events?: FleetEvents;
  /** Told of every instance the launch started, before its status says so (the sampler takes its first figures). */
  launched?: ActivityDeps['launched'];
  /** How often the safety-net reconcile runs; exits normally arrive as events long before. */
  sweepIntervalMs?: number;
}

export interface BotWorker {
  /** Resolves when the worker has shut down. */
  run(): Promise<void>;
  shutdown(): Promise<void>;
  /** The Temporal worker's state: RUNNING while it polls for tasks. */
  state(): string;
}

export const WORKFLOW_BUNDLE_PATH = path.join(projectRoot(), 'dist', 'workflow-bundle.js');

/** The pre-built bundle (npm run build); bundling at start-up is the slow fallback. */
async function workflowBundle(logger: Logger): Promise<WorkflowBundleOption> {
  if (existsSync(WORKFLOW_BUNDLE_PATH)) return { codePath: WORKFLOW_BUNDLE_PATH };
  logger.warn('no pre-built workflow bundle (run npm run build); bundling now');
  return bundleWorkflowCode({ workflowsPath: path.join(projectRoot(), 'workflows', 'index.ts') });
}

export async function createBotWorker(deps: BotWorkerDeps): Promise<BotWorker> {
  const { config, db, runtime, logger } = deps;
  installTemporalLogging(logger);
  const connection = await NativeConnection.connect({ address: deps.temporalAddress });
  let closed = false;
  const notify = createExitNotifier(deps.client, logger, () => closed);
  const stopForwarding = forwardRuntimeEvents(runtime, notify);
  const incidentLog = new RotatingFile(
    path.join(config.paths.logsDir, 'incident.jsonl'),
    LOG_FILE_MAX_BYTES,
    LOG_FILES_KEPT,
  );

  // Uploaded builds run as local processes; on Kubernetes a build is an image.
  const artifacts =
    runtime.kind === 'local'
      ? new ArtifactCache(
          config.paths.artifactsDir,
          async (digest) => {
            const row = await artifactUpload(db, digest);
            if (!row) return undefined;
            return row.kind === 'file'
              ? { kind: 'file', bytes: row.content, filename: row.filename ?? 'bot' }
              : { kind: 'tar.gz', bytes: row.content };
          },
          artifactLimitsOf(config),
        )
      : undefined;

  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowBundle: await workflowBundle(logger),
    activities: {
      ...createActivities({
        db,
        runtime,
        logger,
        stopGraceMs: config.BOT_STOP_GRACE_SECONDS * 1000,
        incidentLog,
        botToken: deps.botToken,
        ...(deps.events ? { events: deps.events } : {}),
        ...(deps.launched ? { launched: deps.launched } : {}),
        ...(artifacts ? { artifacts } : {}),
      }),
      ...createDeploymentActivities({
        db,
        client: deps.client,
        runtime,
        logger,
        incidentLog,
        ...(deps.events ? { events: deps.events } : {}),
      }),
    },
    // Many bots start (or heal) at once after a deploy or a host hiccup: more pollers keep the
    // server's tasks flowing to this worker.
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentWorkflowTaskPolls: 20,
    maxConcurrentActivityTaskPolls: 20,
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentLocalActivityExecutions: 200,
    // Every registered bot has a long-lived workflow; keeping them all cached costs memory for
    // nothing, and an evicted one replays a history that continue-as-new keeps short.
    maxCachedWorkflows: 500,
  });

  const report = await reconcileInstances(db, runtime, notify, logger);
  logger.info(report, 'reconciled running bots with the registry');
  const sweep = setInterval(() => {
    reconcileInstances(db, runtime, notify, logger).catch((err: unknown) =>
      logger.warn({ err }, 'safety-net reconcile failed'),
    );
    if (artifacts)
      pruneArtifacts(db, artifacts, config.ARTIFACT_KEEP_REVISIONS, logger).catch((err: unknown) =>
        logger.warn({ err }, 'could not prune unpacked artifacts'),
      );
  }, deps.sweepIntervalMs ?? 60_000);
  sweep.unref();

  let running: Promise<void> | undefined;
  return {
    run() {
      running ??= worker.run().finally(async () => {
        closed = true;
        clearInterval(sweep);
        stopForwarding();
        incidentLog.close();
        await connection.close();
      });
      return running;
    },
    state: () => worker.getState(),
    async shutdown() {
      closed = true;
      clearInterval(sweep);
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** This host's unpacked builds that no recent revision names go (the registry's own are pruned at each upload). */
async function pruneArtifacts(
  db: Kysely<Database>,
  artifacts: ArtifactCache,
  keepRevisions: number,
  logger: Logger,
): Promise<void> {
  const removed = await artifacts.prune(await artifactsInUse(db, keepRevisions));
  if (removed.length > 0) logger.info({ removed }, 'removed unpacked artifacts no recent revision uses');
}
