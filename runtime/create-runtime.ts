import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { botLogPath, followLines, tailLines } from './log-files.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesRuntime } from './kubernetes-runtime.js';
import { LocalRuntime } from './local-runtime.js';
import { BotCgroups } from './bot-cgroups.js';
import { resolveBotUser } from './bot-user.js';
import { guardPlatformEndpoints, parseEndpoint, type Endpoint } from './network-guard.js';
import type { BotRuntime } from './types.js';

export interface RuntimeContext {
  /** Where bots reach the API (CODEX32_API_URL). */
  apiUrl: string;
  /** The Temporal frontend the platform uses: bots must not reach it. */
  temporalAddress: string;
  /** Every port the embedded Temporal dev server listens on, when this process started it. */
  devServerPorts?: number[];
}

export async function createRuntime(config: Config, logger: Logger, context: RuntimeContext): Promise<BotRuntime> {
  const { apiUrl } = context;
  if (config.BOT_RUNTIME === 'kubernetes') {
    return new KubernetesRuntime({
      kubeConfig: loadKubeConfig(config),
      namespace: config.KUBE_BOTS_NAMESPACE,
      platformEnv: { CODEX32_API_URL: apiUrl },
      launchTimeoutMs: config.KUBE_LAUNCH_TIMEOUT_SECONDS * 1000,
      stopGraceSeconds: Math.ceil(config.BOT_STOP_GRACE_SECONDS),
      logger: logger.child({ component: 'kubernetes-runtime' }),
    });
  }
  const log = logger.child({ component: 'local-runtime' });
  const user = resolveBotUser(config.BOT_USER, { logger: log, searchPath: config.botBaseEnv.PATH });
  const { support, cgroups } = await BotCgroups.detect();
  const endpoints = platformEndpoints(config, context);
  const guard = config.BOT_NETWORK_GUARD
    ? await guardPlatformEndpoints(user, endpoints, {
        searchPath: config.botBaseEnv.PATH,
        installation: config.paths.dataDir,
      })
    : ({ applied: false, reason: 'BOT_NETWORK_GUARD=false' } as const);
  const byService = new Map<string, number[]>();
  for (const e of endpoints)
    byService.set(`${e.what} ${e.host}`, [...(byService.get(`${e.what} ${e.host}`) ?? []), e.port]);
  const services = [...byService].map(([service, ports]) => `${service}:${ports.join(',')}`).join(', ');
  log.info(
    {
      botUser: user.name,
      uid: user.uid,
      gid: user.gid,
      cgroups: support.applies ? support.dir : `not used: ${support.reason}`,
      networkGuard: guard.applied ? guard.rules : `not used: ${guard.reason}`,
    },
    `bots run as ${user.name} with no new privileges${support.applies ? ', each in its own cgroup with its memory and CPU limits' : ''}${guard.applied ? `, kept off ${services}` : ''}`,
  );
  if (!support.applies)
    log.warn(
      `no per-bot cgroups (${support.reason}): the sampler's memory rule enforces memory_limit_mb, and nothing enforces cpu_limit`,
    );
  if (!guard.applied && endpoints.length > 0)
    log.warn(`bots can connect to the platform's own services (${services}): ${guard.reason}`);
  return new LocalRuntime({
    botsDir: config.paths.botsDir,
    runDir: config.paths.runDir,
    botLogsDir: config.paths.botLogsDir,
    logMaxBytes: config.BOT_LOG_MAX_MB * 1024 * 1024,
    logFiles: config.BOT_LOG_FILES,
    baseEnv: config.botBaseEnv,
    platformEnv: { CODEX32_API_URL: apiUrl },
    user,
    cgroups,
    logger: log,
  });
}

/** The platform's services on the network, which bots must not reach: Temporal, PostgreSQL and Redis (not the API). */
function platformEndpoints(config: Config, context: RuntimeContext): Endpoint[] {
  const found = [
    parseEndpoint('Temporal', context.temporalAddress),
    ...(context.devServerPorts ?? []).map((port) => ({ what: 'Temporal dev server', host: '127.0.0.1', port })),
    config.DATABASE_URL ? parseEndpoint('PostgreSQL', config.DATABASE_URL, 5432) : null,
    config.REDIS_URL ? parseEndpoint('Redis', config.REDIS_URL, 6379) : null,
  ];
  return found.filter((e): e is Endpoint => e !== null);
}

/** A bot's recent output for the API (local bots write it into BOT_LOGS_DIR on this machine). */
export function createLogReader(config: Config): (botId: string, lines: number) => Promise<string[]> {
  if (config.BOT_RUNTIME === 'kubernetes') return async () => [];
  return (botId, lines) => tailLines(botLogPath(config.paths.botLogsDir, botId), lines, 4 * 1024 * 1024);
}

/** A bot's output as it is written, for the API's live tail; null where the API cannot see it (Kubernetes: kubectl logs -f). */
export function createLogFollower(
  config: Config,
): ((botId: string, signal: AbortSignal) => AsyncGenerator<string[], void, undefined>) | null {
  if (config.BOT_RUNTIME === 'kubernetes') return null;
  return (botId, signal) => followLines(botLogPath(config.paths.botLogsDir, botId), signal);
}

/** KUBECONFIG's file when set; else the pod's service account in a cluster, else ~/.kube/config; else why there is none. */
export function loadKubeConfig(config: Pick<Config, 'KUBECONFIG'>): KubeConfig {
  const kc = new KubeConfig();
  const home = path.join(os.homedir(), '.kube', 'config');
  try {
    if (config.KUBECONFIG) kc.loadFromFile(config.KUBECONFIG);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else if (existsSync(home)) kc.loadFromFile(home);
    else throw new Error(`KUBECONFIG is not set, this is not a pod in a cluster, and there is no ${home}`);
  } catch (err) {
    throw new Error(
      `BOT_RUNTIME=kubernetes: no usable Kubernetes configuration (${(err as Error).message}); set KUBECONFIG to a kubeconfig file, or run the worker in a cluster`,
      { cause: err },
    );
  }
  if (!kc.getCurrentCluster())
    throw new Error(
      'BOT_RUNTIME=kubernetes: the Kubernetes configuration names no cluster; set KUBECONFIG to a kubeconfig file with a current context',
    );
  return kc;
}
