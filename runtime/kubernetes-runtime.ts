import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../lib/logger.js';
import {
  LaunchError,
  type BotRuntime,
  type InstanceExit,
  type InstanceRef,
  type InstanceStats,
  type LaunchedInstance,
  type LaunchRequest,
  type RuntimeEvent,
} from './types.js';
import { WatchedInstances, type WatchedInstance } from './watched-instances.js';

/**
 * Bots as Deployments. One Deployment and one Secret per bot, named by the
 * bot id, in the bots namespace; the Secret (the bot's env and token) is
 * owned by the Deployment, so deleting the Deployment leaves nothing behind.
 *
 * An instance is one run of the bot's container in one pod: the pod template
 * carries the instance id, so each launch rolls out a new pod (Recreate: a bot
 * never runs twice). When the container ends (crash, OOMKilled, eviction, the
 * pod deleted), the instance has ended: the Deployment is scaled to 0 and the
 * bot's workflow decides, by its heal policy, whether and when to launch the
 * next one — as for local processes. Kubernetes' own restarts would bypass
 * the policy's backoff and give-up.
 */

export interface KubernetesRuntimeOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Given to every bot: CODEX32_API_URL. */
  platformEnv: Record<string, string>;
  /** How long a pod may take to be scheduled, pull its image and start its container. */
  launchTimeoutMs: number;
  /** The pods' termination grace period: SIGTERM, then SIGKILL after it (BOT_STOP_GRACE_SECONDS). */
  stopGraceSeconds: number;
  logger: Logger;
}

const BOT_LABEL = 'codex32.io/bot-id';
const INSTANCE_LABEL = 'codex32.io/instance-id';
const MANAGED = 'app.kubernetes.io/managed-by=codex32';
const CONTAINER = 'bot';
/** Waiting reasons that no wait will fix. */
const IMAGE_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError']);

interface Watched extends WatchedInstance {
  ref: InstanceRef;
}

/** The labels every object of a bot carries; `app.kubernetes.io/*` for tools, ours for selection. */
export function botLabels(botId: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': botId,
    'app.kubernetes.io/instance': botId,
    'app.kubernetes.io/component': 'bot',
    'app.kubernetes.io/part-of': 'codex32',
    'app.kubernetes.io/managed-by': 'codex32',
    [BOT_LABEL]: botId,
  };
}

/** The bot's Deployment for one instance; replicas 1 to run it, 0 to keep it stopped. */
export function botDeployment(
  request: LaunchRequest,
  namespace: string,
  platformEnv: Record<string, string>,
  replicas: number,
  graceSeconds: number,
): V1Deployment {
  const { botId, instanceId, resources } = request;
  const quantities: Record<string, string> = {};
  if (resources.memory_limit_mb !== undefined) quantities.memory = `${resources.memory_limit_mb}Mi`;
  if (resources.cpu_limit !== undefined) quantities.cpu = `${Math.max(1, Math.round(resources.cpu_limit * 1000))}m`;
  const labels = botLabels(botId);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: botId, namespace, labels, annotations: { [INSTANCE_LABEL]: instanceId } },
    spec: {
      replicas,
      // A bot must not run twice, not even for a moment during a rollout.
      strategy: { type: 'Recreate' },
      revisionHistoryLimit: 2,
      selector: { matchLabels: { [BOT_LABEL]: botId } },
      template: {
        metadata: { labels: { ...labels, [INSTANCE_LABEL]: instanceId } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: graceSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            fsGroup: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: CONTAINER,
              image: request.image!,
              ...(request.args.length ? { args: request.args } : {}),
              env: Object.entries({
                ...platformEnv,
                CODEX32_BOT_ID: botId,
                CODEX32_INSTANCE_ID: instanceId,
                PYTHONUNBUFFERED: '1',
              }).map(([name, value]) => ({ name, value })),
              // The bot's own env and its token: from its Secret.
              envFrom: [{ secretRef: { name: botId } }],
              ...(Object.keys(quantities).length ? { resources: { requests: quantities, limits: quantities } } : {}),
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                privileged: false,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
    },
  };
}

/** The bot's Secret: its env and identity, owned by its Deployment. */
export function botSecret(request: LaunchRequest, namespace: string, owner: V1Deployment): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: request.botId,
      namespace,
      labels: botLabels(request.botId),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: owner.metadata!.name!,
          uid: owner.metadata!.uid!,
          blockOwnerDeletion: true,
        },
      ],
    },
    stringData: { ...request.env, ...request.identity },
  };
}

const notFound = (err: unknown) => err instanceof ApiException && err.code === 404;
const conflict = (err: unknown) => err instanceof ApiException && (err.code === 409 || err.code === 422);

/** What a Kubernetes API error says, without the headers the client puts in its message. */
function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = (typeof err.body === 'string' ? safeJson(err.body) : err.body) as { message?: string } | undefined;
    return `${err.code}: ${body?.message ?? 'no message'}`;
  }
  return (err as Error).message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Why the pod's bot container ended, when it has: from the pod's status, in the kubelet's words. */
export function containerEnd(pod: V1Pod): (InstanceExit & { kind: string; evidence: Record<string, unknown> }) | null {
  const status = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER);
  const evidence = (extra: Record<string, unknown>) => ({
    pod: pod.metadata?.name,
    node: pod.spec?.nodeName ?? null,
    ...extra,
  });
  if (pod.status?.reason === 'Evicted' || (pod.status?.phase === 'Failed' && !status?.state?.terminated)) {
    const reason = pod.status?.reason ?? 'Failed';
    return {
      exitCode: null,
      signal: null,
      reason: `pod ${reason.toLowerCase()}: ${pod.status?.message ?? 'no message'}`,
      kind: reason === 'Evicted' ? 'evicted' : 'pod_failed',
      evidence: evidence({ reason, message: pod.status?.message ?? null }),
    };
  }
  if (!status) return null;
  const terminated =
    status.state?.terminated ?? ((status.restartCount ?? 0) > 0 ? status.lastState?.terminated : undefined);
  if (!terminated) return null;
  const reason = terminated.reason ?? 'Error';
  const code = terminated.exitCode ?? null;
  const words =
    reason === 'OOMKilled'
      ? 'was killed for using more memory than its limit (OOMKilled)'
      : reason === 'Completed'
        ? `exited with code ${code}`
        : `exited with code ${code} (${reason})`;
  return {
    exitCode: code,
    signal: terminated.signal ? String(terminated.signal) : null,
    reason: `${words}${terminated.message ? `: ${terminated.message.trim().slice(0, 500)}` : ''}`,
    kind: reason === 'OOMKilled' ? 'oom_killed' : 'process_exited',
    evidence: evidence({
      reason,
      exit_code: code,
      restart_count: status.restartCount ?? 0,
      finished_at: terminated.finishedAt ?? null,
    }),
  };
}

/** A waiting reason that means the launch cannot succeed as it is. */
function launchBlocker(pod: V1Pod): { reason: string; message: string } | null {
  const waiting = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER)?.state?.waiting;
  if (waiting?.reason && (IMAGE_FAILURES.has(waiting.reason) || CONFIG_FAILURES.has(waiting.reason)))
    return { reason: waiting.reason, message: waiting.message ?? '' };
  return null;
}

const isRunning = (pod: V1Pod) =>
  pod.status?.phase === 'Running' &&
  !pod.metadata?.deletionTimestamp &&
  Boolean(pod.status?.containerStatuses?.find((c) => c.name === CONTAINER)?.state?.running);

export class KubernetesRuntime implements BotRuntime {
  readonly kind = 'kubernetes' as const;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly pods: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly deployments: Informer<V1Deployment> & ObjectCache<V1Deployment>;
  /** Ended instances are kept a while (10 minutes) for late questions, then dropped. */
  private readonly watched = new WatchedInstances<Watched>((w) => w.ref, 10 * 60_000);
  private synced: Promise<void>;
  private closed = false;

  constructor(private readonly opts: KubernetesRuntimeOptions) {
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    const ns = opts.namespace;
    this.pods = makeInformer(
      opts.kubeConfig,
      `/api/v1/namespaces/${ns}/pods`,
      () => this.core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED }),
      MANAGED,
    );
    this.deployments = makeInformer(
      opts.kubeConfig,
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      () => this.apps.listNamespacedDeployment({ namespace: ns, labelSelector: MANAGED }),
      MANAGED,
    );
    for (const verb of ['add', 'update'] as const) this.pods.on(verb, (pod) => this.podChanged(pod));
    this.pods.on('delete', (pod) => this.podGone(pod, 'its pod was deleted'));
    this.deployments.on('delete', (d) => this.deploymentGone(d));
    for (const [informer, what] of [
      [this.pods, 'pods'],
      [this.deployments, 'deployments'],
    ] as const) {
      informer.on('error', (err: unknown) => {
        if (this.closed) return;
        this.opts.logger.warn({ error: apiMessage(err) }, `the watch on bots' ${what} broke; watching again in 2 s`);
        setTimeout(() => void informer.start().catch(() => undefined), 2_000).unref();
      });
    }
    this.synced = this.startWatching();
  }

  /** Until the first list, nothing is known; a failure to list is reported by the calls that need it. */
  private startWatching(): Promise<void> {
    const started = Promise.all([this.pods.start(), this.deployments.start()]).then(() => undefined);
    started.catch(() => undefined);
    return started;
  }

  /** The first lists are in; a failed one (the API or the namespace was not there yet) is tried again. */
  private async ready(): Promise<void> {
    const first = this.synced;
    try {
      await first;
    } catch {
      // Callers waiting at once start one new attempt between them.
      if (this.synced === first) this.synced = this.startWatching();
      try {
        await this.synced;
      } catch (err) {
        throw new Error(
          `the Kubernetes API did not answer the list of bots' pods and Deployments in ${this.opts.namespace}: ${apiMessage(err)}; check KUBECONFIG and that the namespace exists`,
          { cause: err },
        );
      }
    }
  }

  private podsOf(instanceId: string): V1Pod[] {
    return this.pods.list(this.opts.namespace).filter((p) => p.metadata?.labels?.[INSTANCE_LABEL] === instanceId);
  }

  async launch(request: LaunchRequest): Promise<LaunchedInstance> {
    const { botId, instanceId } = request;
    if (!request.image) {
      throw new LaunchError(
        `bot ${botId} has a blueprint but no image; with BOT_RUNTIME=kubernetes bots run from container images (set "image")`,
        'image_unsupported',
      );
    }
    await this.ready();
    const watched = this.watched.get(instanceId);
    if (watched?.exit)
      throw new LaunchError(`instance ${instanceId} of bot ${botId} has already ended`, 'spawn_failed');
    // A retried launch of an instance that runs: that pod, untouched.
    const current = watched ? this.podsOf(instanceId).find(isRunning) : undefined;
    if (current) return this.launched(request, current);
    const entry: Watched = watched ?? {
      ref: { botId, instanceId, pid: null, processStartTicks: null },
      stopping: false,
      waiters: [],
    };
    this.watched.add(entry);

    // The Secret must exist before a pod needs it: first launch creates the Deployment at 0 replicas to own it.
    const grace = this.opts.stopGraceSeconds;
    const deployment =
      (await this.readDeployment(botId)) ??
      (await this.writeDeployment(botDeployment(request, this.opts.namespace, this.opts.platformEnv, 0, grace)));
    await this.upsertSecret(botSecret(request, this.opts.namespace, deployment));
    await this.writeDeployment(botDeployment(request, this.opts.namespace, this.opts.platformEnv, 1, grace));
    const pod = await this.waitForPod(request);
    this.opts.logger.info({ botId, instanceId, pod: pod.metadata?.name, node: pod.spec?.nodeName }, 'bot pod running');
    return this.launched(request, pod);
  }

  private launched({ botId, instanceId }: LaunchRequest, pod: V1Pod): LaunchedInstance {
    return {
      botId,
      instanceId,
      pid: null,
      processStartTicks: null,
      runtime: 'kubernetes',
      host: `${this.opts.namespace}/${pod.metadata?.name ?? '?'}`,
      logPath: null,
      startedAt:
        pod.status?.containerStatuses?.[0]?.state?.running?.startedAt?.toISOString?.() ?? new Date().toISOString(),
    };
  }

  /** Until the instance's pod runs its container; what blocks it for good is a LaunchError with the pod's reason. */
  private async waitForPod(request: LaunchRequest): Promise<V1Pod> {
    const deadline = Date.now() + this.opts.launchTimeoutMs;
    let last = 'no pod yet';
    for (;;) {
      const entry = this.watched.get(request.instanceId);
      if (entry?.exit) {
        // It started and ended already: the exit is reported as an event, as for a process that dies at once.
        const pod = this.podsOf(request.instanceId)[0];
        if (pod) return pod;
      }
      for (const pod of this.podsOf(request.instanceId)) {
        if (isRunning(pod) || containerEnd(pod)) return pod;
        const blocker = launchBlocker(pod);
        if (blocker) {
          await this.scale(request.botId, 0).catch(() => undefined);
          const what = IMAGE_FAILURES.has(blocker.reason)
            ? `the image ${request.image} cannot be pulled`
            : 'the container cannot be created';
          throw new LaunchError(
            `${what}: ${blocker.reason}${blocker.message ? `: ${blocker.message}` : ''}`,
            IMAGE_FAILURES.has(blocker.reason) ? 'image_pull_failed' : 'spawn_failed',
          );
        }
        const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
        last = unscheduled
          ? `not scheduled: ${unscheduled.message ?? unscheduled.reason}`
          : `pod ${pod.metadata?.name} is ${pod.status?.phase ?? 'pending'}`;
      }
      if (Date.now() > deadline)
        throw new Error(
          `the pod of bot ${request.botId} is not running after ${this.opts.launchTimeoutMs / 1000} s (${last})`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async readDeployment(botId: string): Promise<V1Deployment | null> {
    try {
      return await this.apps.readNamespacedDeployment({ name: botId, namespace: this.opts.namespace });
    } catch (err) {
      if (notFound(err)) return null;
      throw new Error(`reading the Deployment of bot ${botId} failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  /**
   * Reads the bot's Deployment, changes it and writes it with the version
   * read; again on a conflict, so a write in between is never lost. `change`
   * gets the current one (null when there is none) and returns what to write,
   * or null to leave it. Returns the Deployment as it is then.
   */
  private async updateDeployment(
    name: string,
    what: string,
    change: (current: V1Deployment | null) => V1Deployment | null,
  ): Promise<V1Deployment | null> {
    const namespace = this.opts.namespace;
    for (let attempt = 0; ; attempt++) {
      const current = await this.readDeployment(name);
      const next = change(current);
      if (!next) return current;
      try {
        if (!current) return await this.apps.createNamespacedDeployment({ namespace, body: next });
        return await this.apps.replaceNamespacedDeployment({
          name,
          namespace,
          body: { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata!.resourceVersion! } },
        });
      } catch (err) {
        if (!conflict(err) || attempt >= 5) throw new Error(`${what} failed: ${apiMessage(err)}`, { cause: err });
      }
    }
  }

  /** The bot's Deployment as `desired` (created when missing). */
  private async writeDeployment(desired: V1Deployment): Promise<V1Deployment> {
    const name = desired.metadata!.name!;
    return (await this.updateDeployment(name, `writing the Deployment of bot ${name}`, () => desired))!;
  }

  private async upsertSecret(secret: V1Secret): Promise<void> {
    const name = secret.metadata!.name!;
    const namespace = this.opts.namespace;
    try {
      await this.core.replaceNamespacedSecret({ name, namespace, body: secret });
    } catch (err) {
      if (!notFound(err))
        throw new Error(`writing the Secret of bot ${name} failed: ${apiMessage(err)}`, { cause: err });
      await this.core.createNamespacedSecret({ namespace, body: secret }).catch((e: unknown) => {
        throw new Error(`creating the Secret of bot ${name} failed: ${apiMessage(e)}`, { cause: e });
      });
    }
  }

  /**
   * Sets the bot's replicas, keeping the rest of its Deployment; false when
   * there is no Deployment. `onlyFor`: only while it runs that instance (the
   * write carries the version read, so a launch in between wins).
   */
  private async scale(botId: string, replicas: number, onlyFor?: string): Promise<boolean> {
    const after = await this.updateDeployment(botId, `scaling bot ${botId} to ${replicas}`, (current) => {
      if (!current || current.spec?.replicas === replicas) return null;
      if (onlyFor && current.spec?.template?.metadata?.labels?.[INSTANCE_LABEL] !== onlyFor) return null;
      return { ...current, spec: { ...current.spec!, replicas } };
    });
    return after !== null;
  }

  async stop(ref: InstanceRef, graceMs: number): Promise<InstanceExit> {
    await this.ready();
    const entry = this.watched.get(ref.instanceId) ?? this.watched.add({ ref, stopping: false, waiters: [] });
    if (entry.exit) return entry.exit;
    entry.stopping = true;
    const exists = await this.scale(ref.botId, 0);
    if (!exists || this.podsOf(ref.instanceId).length === 0)
      return this.finish(entry, { exitCode: null, signal: null, reason: 'already gone when asked to stop' });
    // The pod's own grace period applies; past it and a margin, the pod is deleted at once.
    const ended = this.watched.ended(entry);
    const timer = setTimeout(() => {
      for (const pod of this.podsOf(ref.instanceId))
        void this.core
          .deleteNamespacedPod({ name: pod.metadata!.name!, namespace: this.opts.namespace, gracePeriodSeconds: 0 })
          .catch(() => undefined);
    }, graceMs + 5_000);
    timer.unref();
    const exit = await ended;
    clearTimeout(timer);
    return exit;
  }

  async isAlive(ref: InstanceRef): Promise<boolean> {
    await this.ready();
    return this.podsOf(ref.instanceId).some((p) => isRunning(p) && !containerEnd(p));
  }

  /**
   * After a control-plane restart: an instance is taken back when its pod
   * still runs its first container. A restarted container means the instance
   * ended while nobody watched: the caller reports it, and the workflow heals.
   */
  async adopt(ref: InstanceRef): Promise<boolean> {
    if (this.isWatching(ref.instanceId)) return true;
    if (!(await this.isAlive(ref))) {
      await this.scale(ref.botId, 0, ref.instanceId).catch(() => undefined);
      return false;
    }
    this.watched.add({ ref, stopping: false, waiters: [] });
    this.opts.logger.info({ botId: ref.botId, instanceId: ref.instanceId }, 'bot pod re-adopted');
    return true;
  }

  isWatching(instanceId: string): boolean {
    return this.watched.isWatching(instanceId);
  }

  watchedInstances(): InstanceRef[] {
    return this.watched.live().map((w) => w.ref);
  }

  /** Pods' CPU and memory need the metrics API, which this runtime does not read (yet): none. */
  async stats(): Promise<InstanceStats | null> {
    return null;
  }

  async recentLogs(botId: string, lines: number): Promise<string[]> {
    const pods = this.pods.list(this.opts.namespace).filter((p) => p.metadata?.labels?.[BOT_LABEL] === botId);
    const pod = pods.sort((a, b) =>
      String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')),
    )[0];
    if (!pod) return [];
    try {
      const text = await this.core.readNamespacedPodLog({
        name: pod.metadata!.name!,
        namespace: this.opts.namespace,
        container: CONTAINER,
        tailLines: lines,
      });
      return text
        .split('\n')
        .filter((l) => l.length > 0)
        .slice(-lines);
    } catch {
      // No kubelet answering (a simulated node), or the pod is gone: no lines.
      return [];
    }
  }

  /** The bot is deleted: its Deployment goes, and with it (owner references) its ReplicaSets, pods and Secret. */
  async release(botId: string): Promise<void> {
    try {
      await this.apps.deleteNamespacedDeployment({
        name: botId,
        namespace: this.opts.namespace,
        propagationPolicy: 'Foreground',
      });
    } catch (err) {
      if (!notFound(err))
        throw new Error(`deleting the Deployment of bot ${botId} failed: ${apiMessage(err)}`, { cause: err });
    }
    // A Secret written before its owner existed (an interrupted first launch) has no owner to go with.
    await this.core.deleteNamespacedSecret({ name: botId, namespace: this.opts.namespace }).catch((err: unknown) => {
      if (!notFound(err))
        throw new Error(`deleting the Secret of bot ${botId} failed: ${apiMessage(err)}`, { cause: err });
    });
  }

  onEvent(listener: (event: RuntimeEvent) => void): () => void {
    return this.watched.onEvent(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.pods.stop(), this.deployments.stop()]).catch(() => undefined);
    this.watched.clear();
  }

  private podChanged(pod: V1Pod): void {
    const entry = this.watched.get(pod.metadata?.labels?.[INSTANCE_LABEL] ?? '');
    if (!entry || entry.exit) return;
    if (entry.stopping) return; // the end of a stop is its pod going away
    const end = containerEnd(pod);
    if (end) return void this.ended(entry, end);
    if (pod.metadata?.deletionTimestamp)
      this.ended(entry, {
        exitCode: null,
        signal: null,
        reason: 'its pod is being deleted',
        kind: 'pod_deleted',
        evidence: { pod: pod.metadata.name },
      });
  }

  private podGone(pod: V1Pod, why: string): void {
    const instanceId = pod.metadata?.labels?.[INSTANCE_LABEL] ?? '';
    const entry = this.watched.get(instanceId);
    if (!entry || entry.exit) return;
    // Another pod of the same instance (the ReplicaSet's replacement) does not bring it back: the instance was that run.
    const end = containerEnd(pod);
    if (entry.stopping) {
      if (this.podsOf(instanceId).length === 0)
        this.finish(entry, { exitCode: end?.exitCode ?? null, signal: null, reason: 'stopped on request' });
      return;
    }
    this.ended(
      entry,
      end ?? { exitCode: null, signal: null, reason: why, kind: 'pod_deleted', evidence: { pod: pod.metadata?.name } },
    );
  }

  private deploymentGone(d: V1Deployment): void {
    const botId = d.metadata?.labels?.[BOT_LABEL];
    for (const entry of this.watched.all()) {
      if (entry.ref.botId === botId && !entry.exit && !entry.stopping)
        this.ended(entry, {
          exitCode: null,
          signal: null,
          reason: 'its Deployment was deleted',
          kind: 'pod_deleted',
          evidence: { deployment: d.metadata?.name },
        });
    }
  }

  /** The instance ended by itself: reported to the workflow, and its Deployment scaled to 0 so Kubernetes does not restart it behind the heal policy. */
  private ended(entry: Watched, exit: InstanceExit & { kind: string; evidence: Record<string, unknown> }): void {
    this.watched.finish(entry, exit);
    this.opts.logger.warn(
      { botId: entry.ref.botId, instanceId: entry.ref.instanceId, kind: exit.kind, reason: exit.reason },
      `bot ${entry.ref.botId} ${exit.reason}`,
    );
    void this.scale(entry.ref.botId, 0, entry.ref.instanceId).catch((err: unknown) =>
      this.opts.logger.warn(
        { botId: entry.ref.botId, error: (err as Error).message },
        'scaling an ended bot to 0 failed',
      ),
    );
  }

  /** An end this runtime's stop brought about: its caller has it, no event. */
  private finish(entry: Watched, exit: InstanceExit): InstanceExit {
    return this.watched.finish(entry, exit, { report: false });
  }
}
