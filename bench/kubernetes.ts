import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import type { BenchEnv } from './host.js';
import {
  checkTarget,
  heading,
  printFigures,
  printSummaryTable,
  round,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, pool, sleep, type BotList } from './util.js';

const run = promisify(execFile);

/** Bots' image on Kubernetes: never pulled on KWOK's nodes. */
export const BENCH_IMAGE = 'registry.codex32.test/bench-bot:1.0';

export interface KubernetesOptions {
  size: number;
  kubeconfig: string;
  /** The namespace the platform's bots run in (KUBE_BOTS_NAMESPACE). */
  namespace: string;
}

export interface KubernetesResult {
  size: number;
  /** POST .../start of every bot at once → every bot `running` in the API. */
  allRunningMs: number | null;
  /** The same number of plain Deployments by `kubectl apply` → every pod Running. */
  kubectlAllRunningMs: number | null;
  kubectlApplyMs: number;
  /** A bot's start request sent → its pod Running (the watch's receipt). */
  apiToPodRunningMs: Summary;
  kubectlToPodRunningMs: Summary;
  targets: TargetResult[];
}

/** Receipt time of the first Running of each pod in `namespace`, keyed by `keyOf(pod)`. */
function watchRunning(
  kc: KubeConfig,
  namespace: string,
  keyOf: (pod: V1Pod) => string | undefined,
): { at: Map<string, number>; stop: () => void } {
  const at = new Map<string, number>();
  let request: { abort(): void } | undefined;
  void new Watch(kc)
    .watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (_type, pod: V1Pod) => {
        const key = keyOf(pod);
        if (key && pod.status?.phase === 'Running' && !at.has(key)) at.set(key, performance.now());
      },
      () => undefined,
    )
    .then((r) => (request = r as { abort(): void }));
  return { at, stop: () => request?.abort() };
}

/**
 * N bots with an image started at once with BOT_RUNTIME=kubernetes: time
 * until the API says all run, and each bot's start request → its pod
 * Running; then, in the same run and cluster, `kubectl apply` of N
 * Deployments of the same shape → all their pods Running.
 */
export async function benchKubernetes(env: BenchEnv, opts: KubernetesOptions): Promise<KubernetesResult> {
  const { api } = env;
  const n = opts.size;
  heading(`${n} bots on Kubernetes started at once, beside kubectl apply of ${n} Deployments`);
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const ids = Array.from({ length: n }, (_, i) => `${env.runId}-k8s-${String(i).padStart(4, '0')}`);
  const image = BENCH_IMAGE;

  const registered = await pool(n, 8, new Deadline(180_000, 'registering the bots'), (i) =>
    api.registerBot(ids[i]!, { image, role: `${env.runId}-k8s`, resources: { memory_limit_mb: 64, cpu_limit: 0.05 } }),
  );
  if (registered < n) throw new Error(`registered only ${registered} of ${n} bots`);

  const platformPods = watchRunning(kc, opts.namespace, (p) => p.metadata?.labels?.['codex32.io/bot-id']);
  const sentAt = new Map<string, number>();
  const t0 = performance.now();
  let rejected = 0;
  await Promise.all(
    ids.map(async (id) => {
      sentAt.set(id, performance.now());
      const res = await api
        .request('POST', `/api/v1/bots/${id}/start`, undefined, 60_000)
        .catch((err: unknown) => ({ status: 0, body: String(err), bytes: 0 }));
      if (res.status !== 202 && ++rejected <= 3)
        console.log(`start of ${id} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    }),
  );
  let allRunningMs: number | null = null;
  const deadline = new Deadline(180_000, `waiting for ${n} bots to run on Kubernetes`);
  let running = 0;
  while (!deadline.expired) {
    const list = await api.expect<BotList>([200], 'GET', `/api/v1/bots?role=${env.runId}-k8s&limit=1000`);
    running = list.body.bots.filter((b) => b.status === 'running').length;
    if (running === n) {
      allRunningMs = performance.now() - t0;
      break;
    }
    await sleep(50);
  }
  await sleep(500);
  platformPods.stop();
  const apiToPod = ids.flatMap((id) => (platformPods.at.has(id) ? [platformPods.at.get(id)! - sentAt.get(id)!] : []));

  // The same number of Deployments of the same shape, applied by kubectl in one file.
  const kubectlNs = `${env.runId}-kubectl`;
  await core.createNamespace({ body: { metadata: { name: kubectlNs } } });
  const docs = ids.map((id) =>
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: id, namespace: kubectlNs, labels: { app: id } },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { app: id } },
        template: {
          metadata: { labels: { app: id } },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 65532 },
            containers: [
              {
                name: 'bot',
                image,
                resources: { requests: { memory: '64Mi', cpu: '50m' }, limits: { memory: '64Mi', cpu: '50m' } },
              },
            ],
          },
        },
      },
    }),
  );
  const file = path.join(env.root, 'kubectl-deployments.json');
  await fs.writeFile(
    file,
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs.map((d) => JSON.parse(d) as unknown) }),
  );
  const kubectlPods = watchRunning(kc, kubectlNs, (p) => p.metadata?.labels?.app);
  const k0 = performance.now();
  await run('kubectl', ['--kubeconfig', opts.kubeconfig, 'apply', '-f', file], { maxBuffer: 16 * 1024 * 1024 });
  const kubectlApplyMs = performance.now() - k0;
  let kubectlAllRunningMs: number | null = null;
  const kDeadline = new Deadline(180_000, 'waiting for the kubectl Deployments to run');
  while (!kDeadline.expired) {
    if (kubectlPods.at.size >= n) {
      kubectlAllRunningMs = Math.max(...kubectlPods.at.values()) - k0;
      break;
    }
    await sleep(50);
  }
  kubectlPods.stop();
  const kubectlToPod = [...kubectlPods.at.values()].map((t) => t - k0);

  // Clean up: the platform's bots stopped and deleted (their objects go with them), the kubectl namespace deleted.
  await pool(n, 16, new Deadline(300_000, 'stopping the bots'), async (i) => {
    await api.request('POST', `/api/v1/bots/${ids[i]}/stop`, undefined, 60_000);
  });
  await core.deleteNamespace({ name: kubectlNs }).catch(() => undefined);

  const result: KubernetesResult = {
    size: n,
    allRunningMs: allRunningMs === null ? null : round(allRunningMs),
    kubectlAllRunningMs: kubectlAllRunningMs === null ? null : round(kubectlAllRunningMs),
    kubectlApplyMs: round(kubectlApplyMs),
    apiToPodRunningMs: rounded(summarize(apiToPod)),
    kubectlToPodRunningMs: rounded(summarize(kubectlToPod)),
    targets: [],
  };
  printFigures([
    [
      `${n} bots: start requests → all running (API)`,
      allRunningMs === null ? `not reached: ${running} of ${n} running` : `${(allRunningMs / 1000).toFixed(1)} s`,
    ],
    [`start requests refused`, String(rejected)],
    [`kubectl apply of ${n} Deployments (the command)`, `${(kubectlApplyMs / 1000).toFixed(1)} s`],
    [
      `kubectl apply → all ${n} pods Running`,
      kubectlAllRunningMs === null
        ? `not reached: ${kubectlPods.at.size} of ${n}`
        : `${(kubectlAllRunningMs / 1000).toFixed(1)} s`,
    ],
  ]);
  printSummaryTable([
    ["API start → the bot's pod Running", summarize(apiToPod)],
    ['kubectl apply → a pod Running', summarize(kubectlToPod)],
  ]);
  result.targets.push(
    checkTarget(`${n} bots on Kubernetes: all running`, (allRunningMs ?? Number.NaN) / 1000, 60, 's'),
  );
  return result;
}
