import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from '../helpers/platform.js';

/**
 * BOT_RUNTIME=kubernetes against a real control plane (etcd, kube-apiserver,
 * controller-manager, scheduler) with KWOK's simulated nodes: pods are
 * scheduled and reach Running without a container engine. KWOK Stages
 * (fault-stages.yaml) make pods of some images fail as a kubelet would show it.
 */
const CRASH_IMAGE = 'registry.codex32.test/crash-bot:1.0';

describe('bots on Kubernetes (BOT_RUNTIME=kubernetes)', () => {
  let t: TestPlatform;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const namespace = `bots-${Math.random().toString(36).slice(2, 8)}`;

  const podsOf = async (botId: string): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace, labelSelector: `codex32.io/bot-id=${botId}` })).items;
  const runningPod = (botId: string, not?: string) =>
    waitFor(
      async () =>
        (await podsOf(botId)).find(
          (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && p.metadata?.name !== not,
        ),
      `a Running pod of ${botId}`,
      30_000,
      100,
    );
  const incidentsOf = async (botId: string) =>
    (await t.request('GET', `/api/v1/incidents?bot_id=${botId}`)).body.incidents as Array<{
      kind: string;
      message: string;
      evidence: Record<string, unknown>;
    }>;

  beforeAll(async () => {
    const kubeconfig = inject('kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    t = await startTestPlatform('postgres', {
      BOT_RUNTIME: 'kubernetes',
      KUBECONFIG: kubeconfig,
      KUBE_BOTS_NAMESPACE: namespace,
      BOT_STOP_GRACE_SECONDS: '2',
    });
  });
  afterAll(async () => {
    await t?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('runs a bot with an image as a Deployment and a Secret exactly as specified; its pod runs and the bot is running', async () => {
    const id = t.uniqueId('kube');
    const created = await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Kube bot',
      image: 'ghcr.io/acme/analytics-bot:1.2',
      args: ['--interval', '5'],
      env: { MODE: 'fast', API_TOKEN_OF_SOMETHING: 's3cret' },
      resources: { memory_limit_mb: 256, cpu_limit: 0.5 },
    });
    expect(created.status).toBe(201);
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(202);
    const bot = await waitForBot(t, id, 'running', (b) => b.status === 'running', 60_000);
    const pod = await runningPod(id);
    expect(bot.pid).toBeNull();
    expect(pod.metadata?.labels?.['codex32.io/instance-id']).toBe(bot.instance_id);

    const d = await apps.readNamespacedDeployment({ name: id, namespace });
    const labels = {
      'app.kubernetes.io/name': id,
      'app.kubernetes.io/instance': id,
      'app.kubernetes.io/component': 'bot',
      'app.kubernetes.io/part-of': 'codex32',
      'app.kubernetes.io/managed-by': 'codex32',
      'codex32.io/bot-id': id,
    };
    expect(d.metadata?.labels).toEqual(labels);
    expect(d.spec?.replicas).toBe(1);
    expect(d.spec?.strategy?.type).toBe('Recreate');
    const podSpec = d.spec!.template.spec!;
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(podSpec.terminationGracePeriodSeconds).toBe(2); // BOT_STOP_GRACE_SECONDS
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(podSpec.containers).toHaveLength(1);
    const c = podSpec.containers[0]!;
    expect(c.image).toBe('ghcr.io/acme/analytics-bot:1.2');
    expect(c.args).toEqual(['--interval', '5']);
    expect(c.resources).toEqual({
      requests: { memory: '256Mi', cpu: '500m' },
      limits: { memory: '256Mi', cpu: '500m' },
    });
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]))).toMatchObject({
      CODEX32_BOT_ID: id,
      CODEX32_INSTANCE_ID: bot.instance_id,
      CODEX32_API_URL: expect.stringMatching(/^http:\/\//),
    });
    // Secret values are not in the Deployment: they come from the bot's Secret.
    expect(JSON.stringify(d)).not.toContain('s3cret');
    expect(c.envFrom).toEqual([{ secretRef: { name: id } }]);

    const secret = await core.readNamespacedSecret({ name: id, namespace });
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(data).toMatchObject({
      MODE: 'fast',
      API_TOKEN_OF_SOMETHING: 's3cret',
      CODEX32_BOT_TOKEN: expect.stringMatching(/^ey/),
    });
    expect(secret.metadata?.labels).toEqual(labels);
    expect(secret.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Deployment', name: id, uid: d.metadata!.uid }),
    ]);

    // Start is idempotent: the API says it runs already, and the runtime, asked again for the same instance, rolls nothing out.
    expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBe(409);
    const again = await t.platform.runtime!.launch({
      botId: id,
      instanceId: bot.instance_id,
      blueprint: null,
      image: 'ghcr.io/acme/analytics-bot:1.2',
      args: ['--interval', '5'],
      env: { MODE: 'fast', API_TOKEN_OF_SOMETHING: 's3cret' },
      resources: { memory_limit_mb: 256, cpu_limit: 0.5 },
    });
    expect(again.host).toBe(`${namespace}/${pod.metadata!.name}`);
    await new Promise((r) => setTimeout(r, 500));
    expect((await podsOf(id)).map((p) => p.metadata?.name)).toEqual([pod.metadata?.name]);
    expect((await apps.readNamespacedDeployment({ name: id, namespace })).metadata?.generation).toBe(
      d.metadata?.generation,
    );

    // A deleted pod: a new pod, counted as a heal, with an incident carrying the pod.
    await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace, gracePeriodSeconds: 0 });
    const healed = await waitForBot(
      t,
      id,
      'running again',
      (b) => b.status === 'running' && b.restart_count === 1 && b.instance_id !== bot.instance_id,
      60_000,
    );
    const second = await runningPod(id, pod.metadata!.name!);
    expect(second.metadata?.labels?.['codex32.io/instance-id']).toBe(healed.instance_id);
    const [incident] = await incidentsOf(id);
    expect(incident).toMatchObject({
      kind: 'pod_deleted',
      evidence: expect.objectContaining({ pod: pod.metadata!.name }),
    });

    // Stop: 0 replicas, no pod.
    expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBe(202);
    await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped', 60_000);
    expect((await apps.readNamespacedDeployment({ name: id, namespace })).spec?.replicas).toBe(0);
    await waitFor(async () => (await podsOf(id)).length === 0, 'no pod left', 30_000);

    // Delete: nothing of the bot is left in the namespace.
    expect((await t.request('DELETE', `/api/v1/bots/${id}`)).status).toBe(200);
    await waitFor(
      async () => {
        const [ds, rss, ps, ss] = await Promise.all([
          apps.listNamespacedDeployment({ namespace, labelSelector: `codex32.io/bot-id=${id}` }),
          apps.listNamespacedReplicaSet({ namespace, labelSelector: `codex32.io/bot-id=${id}` }),
          podsOf(id),
          core.listNamespacedSecret({ namespace, labelSelector: `codex32.io/bot-id=${id}` }),
        ]);
        return ds.items.length + rss.items.length + ps.length + ss.items.length === 0;
      },
      'nothing of the bot left',
      60_000,
      200,
    );
  });

  it("a container that keeps failing: an incident per end with the pod's reason, backoff, then failed and scaled to 0", async () => {
    const id = t.uniqueId('crash');
    await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Crashing bot',
      image: CRASH_IMAGE,
      heal_policy: {
        max_restarts: 2,
        window_seconds: 300,
        backoff_initial_seconds: 0.5,
        backoff_max_seconds: 1,
        backoff_jitter: 0,
      },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const failed = await waitForBot(t, id, 'failed', (b) => b.status === 'failed', 90_000);
    expect(failed.restart_count).toBe(2);
    const incidents = await incidentsOf(id);
    expect(incidents.map((i) => i.kind).sort()).toEqual(['crash_loop', 'process_exited', 'process_exited']);
    const exited = incidents.find((i) => i.kind === 'process_exited')!;
    expect(exited.message).toMatch(/exited with code 1/);
    expect(exited.evidence).toMatchObject({ exit_code: 1, pod: expect.any(String) });
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name: id, namespace })).spec?.replicas === 0,
      'scaled to 0',
      30_000,
    );
    await waitFor(async () => (await podsOf(id)).length === 0, 'no pod left', 30_000);
  });

  it('a deployment of an image whose pods crash is rolled back to the previous image, through the same gate', async () => {
    const id = t.uniqueId('rollout');
    const good = (tag: string) => `ghcr.io/acme/analytics-bot:${tag}`;
    await t.request('POST', '/api/v1/bots', {
      id,
      name: 'Rolled out',
      image: good('1.2'),
      heal_policy: { backoff_initial_seconds: 0, backoff_max_seconds: 0, backoff_jitter: 0 },
    });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    await waitForBot(t, id, 'running', (b) => b.status === 'running', 60_000);
    const gate = { min_healthy_seconds: 2, progress_deadline_seconds: 60 };
    const deploy = async (image: string) => {
      const d = await t.request('POST', '/api/v1/deployments', { bot_id: id, image, health_gate: gate });
      expect(d.status).toBe(202);
      return waitFor(
        async () => {
          const r = (await t.request('GET', `/api/v1/deployments/${d.body.id}?wait=30`)).body;
          return r.outcome ? r : undefined;
        },
        `deployment of ${image}`,
        120_000,
        200,
      );
    };
    expect(await deploy(good('1.3'))).toMatchObject({ phase: 'succeeded', revision: 2 });
    const before = await runningPod(id);
    expect(before.spec?.containers[0]?.image).toBe(good('1.3'));

    const bad = await deploy(CRASH_IMAGE);
    expect(bad).toMatchObject({ phase: 'rolled_back', revision: 3, rollback_revision: 4 });
    expect(bad.evidence).toMatchObject({ rule: 'exited', exit_code: 1 });
    const after = await runningPod(id, before.metadata?.name);
    expect(after.spec?.containers[0]?.image).toBe(good('1.3'));
    expect(
      await waitForBot(t, id, 'running on 1.3 again', (b) => b.status === 'running' && b.revision === 4),
    ).toMatchObject({
      image: good('1.3'),
    });
    expect((await incidentsOf(id)).map((i) => i.kind)).toContain('deployment_failed');
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it("OOMKilled, eviction and an image that cannot be pulled: each an incident with the pod's reason", async () => {
    const policy = {
      max_restarts: 5,
      window_seconds: 300,
      backoff_initial_seconds: 30,
      backoff_max_seconds: 30,
      backoff_jitter: 0,
    };
    const oom = t.uniqueId('oom');
    const evicted = t.uniqueId('evicted');
    const missing = t.uniqueId('missing');
    await t.request('POST', '/api/v1/bots', {
      id: oom,
      name: 'OOM',
      image: 'registry.codex32.test/oom-bot:1.0',
      resources: { memory_limit_mb: 64 },
      heal_policy: policy,
    });
    await t.request('POST', '/api/v1/bots', {
      id: evicted,
      name: 'Evicted',
      image: 'registry.codex32.test/evicted-bot:1.0',
      heal_policy: policy,
    });
    await t.request('POST', '/api/v1/bots', {
      id: missing,
      name: 'Missing',
      image: 'registry.codex32.test/missing-bot:1.0',
    });
    for (const id of [oom, evicted, missing]) await t.request('POST', `/api/v1/bots/${id}/start`);

    const first = (id: string, kind: string) =>
      waitFor(
        async () => (await incidentsOf(id)).find((i) => i.kind === kind),
        `a ${kind} incident of ${id}`,
        60_000,
        200,
      );
    const oomIncident = await first(oom, 'oom_killed');
    expect(oomIncident.message).toMatch(/OOMKilled/);
    expect(oomIncident.evidence).toMatchObject({ reason: 'OOMKilled', exit_code: 137 });
    const evictedIncident = await first(evicted, 'evicted');
    expect(evictedIncident.message).toMatch(/pod evicted: The node was low on resource: memory/);
    expect(evictedIncident.evidence).toMatchObject({ reason: 'Evicted' });
    // Both wait out their backoff (30 s) as healing bots: Kubernetes restarted neither behind the policy.
    for (const id of [oom, evicted]) {
      await waitForBot(t, id, 'healing', (b) => b.status === 'healing', 30_000);
      await waitFor(
        async () => (await podsOf(id)).every((p) => p.metadata?.deletionTimestamp || p.status?.phase === 'Failed'),
        `no live pod of ${id} during its backoff`,
        30_000,
      );
    }
    const failed = await waitForBot(t, missing, 'failed', (b) => b.status === 'failed', 60_000);
    expect(failed.status_reason).toMatch(
      /the image registry\.codex32\.test\/missing-bot:1\.0 cannot be pulled: ErrImagePull: .*not found/,
    );
    const pull = await first(missing, 'launch_failed');
    expect(pull.message).toMatch(/ErrImagePull/);
    expect((await apps.readNamespacedDeployment({ name: missing, namespace })).spec?.replicas).toBe(0);
    for (const id of [oom, evicted]) await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a restarted worker restarts nothing and observes everything again', async () => {
    const ids = [t.uniqueId('keep'), t.uniqueId('keep')];
    for (const id of ids) {
      await t.request('POST', '/api/v1/bots', { id, name: 'Kept', image: 'ghcr.io/acme/keeper:1' });
      await t.request('POST', `/api/v1/bots/${id}/start`);
    }
    const before = await Promise.all(
      ids.map(async (id) => ({
        bot: await waitForBot(t, id, 'running', (b) => b.status === 'running', 60_000),
        pod: (await runningPod(id)).metadata!.name!,
      })),
    );

    await t.restartControlPlane();

    for (const [k, id] of ids.entries()) {
      const bot = (await t.request('GET', `/api/v1/bots/${id}`)).body;
      expect(bot).toMatchObject({ status: 'running', restart_count: 0, instance_id: before[k]!.bot.instance_id });
      expect((await podsOf(id)).map((p) => p.metadata?.name)).toEqual([before[k]!.pod]);
      expect(t.platform.runtime!.isWatching(before[k]!.bot.instance_id)).toBe(true);
    }
    // Re-observed: a pod deleted now is seen and healed by the new worker.
    await core.deleteNamespacedPod({ name: before[0]!.pod, namespace, gracePeriodSeconds: 0 });
    await waitForBot(
      t,
      ids[0]!,
      'healed by the new worker',
      (b) => b.status === 'running' && b.restart_count === 1,
      60_000,
    );
    for (const id of ids) await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a bot with a blueprint but no image is refused at launch with the reason', async () => {
    const id = t.uniqueId('script');
    await t.request('POST', '/api/v1/bots', { id, name: 'Script bot', blueprint: 'sleeper.mjs' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const failed = await waitForBot(t, id, 'failed', (b) => b.status === 'failed', 30_000);
    expect(failed.status_reason).toMatch(/no image; with BOT_RUNTIME=kubernetes bots run from container images/);
    expect(
      (await apps.listNamespacedDeployment({ namespace, labelSelector: `codex32.io/bot-id=${id}` })).items,
    ).toEqual([]);
  });
});

describe('Kubernetes runtime misconfigured', () => {
  let t: TestPlatform | undefined;
  afterAll(() => t?.close());

  it("a bots namespace that does not exist: the launch fails with the API's reason, and the platform runs on", async () => {
    t = await startTestPlatform('pglite', {
      BOT_RUNTIME: 'kubernetes',
      KUBECONFIG: inject('kubeconfig'),
      KUBE_BOTS_NAMESPACE: 'no-such-namespace',
    });
    const id = t.uniqueId('nowhere');
    await t.request('POST', '/api/v1/bots', { id, name: 'Nowhere', image: 'ghcr.io/acme/keeper:1' });
    await t.request('POST', `/api/v1/bots/${id}/start`);
    const failed = await waitForBot(t, id, 'failed', (b) => b.status === 'failed', 60_000);
    expect(failed.status_reason).toMatch(/Deployment of bot .* failed: 404: namespaces "no-such-namespace" not found/);
    expect((await t.anonymous('GET', '/health')).status).toBe(200);
  });

  it('a kubeconfig that is not there is refused at start-up with what to set', async () => {
    const { loadKubeConfig } = await import('../../runtime/create-runtime.js');
    expect(() => loadKubeConfig({ KUBECONFIG: '/nonexistent/kubeconfig' })).toThrow(
      /BOT_RUNTIME=kubernetes: no usable Kubernetes configuration .*set KUBECONFIG/,
    );
    // Nothing at all: said so, rather than trying a default address.
    const saved = { HOME: process.env.HOME, host: process.env.KUBERNETES_SERVICE_HOST };
    process.env.HOME = t!.root;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => loadKubeConfig({ KUBECONFIG: undefined })).toThrow(
        /KUBECONFIG is not set, this is not a pod in a cluster, and there is no .*\.kube\/config/,
      );
    } finally {
      process.env.HOME = saved.HOME;
      if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
    }
  });
});
