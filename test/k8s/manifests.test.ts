import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../lib/project-root.js';
import { waitFor } from '../helpers/platform.js';

const run = promisify(execFile);
const root = projectRoot();

/**
 * The platform's own manifests (k8s/), the Dockerfile and docker-compose.yml:
 * checked against the code; the Compose file loaded by compose-go (what
 * `docker compose config` runs; there is no Docker here); the manifests
 * accepted by a real kube-apiserver (server-side dry run: admission, schemas,
 * Pod Security), then created for real.
 */
describe('k8s/ manifests against a real kube-apiserver', () => {
  let kubeconfig: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', kubeconfig, ...args], { cwd: root, maxBuffer: 16 * 1024 * 1024 });

  beforeAll(() => {
    kubeconfig = inject('kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterAll(async () => {
    await kubectl('delete', '-k', 'k8s', '--ignore-not-found', '--wait=false').catch(() => undefined);
  });

  it('names only settings the platform reads and entry points the build has (check-deploy-files)', async () => {
    const { stdout } = await run(process.execPath, [path.join(root, 'scripts', 'check-deploy-files.mjs')], {
      cwd: root,
    });
    expect(stdout).toMatch(/ok/);
  });

  it('docker-compose.yml loads as Compose loads it (schema, interpolation), and refuses to run without API_SECRET_KEY', async () => {
    const check = path.join(root, '.tools', 'bin', 'compose-check');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' };
    const { stdout } = await run(check, ['-f', 'docker-compose.yml'], {
      cwd: root,
      env: { ...env, API_SECRET_KEY: 'a'.repeat(64) },
    });
    expect(stdout.trim().split(' ').slice(1).sort()).toEqual(
      expect.arrayContaining(['api', 'migrate', 'postgres', 'redis', 'temporal', 'temporal-ui', 'worker']),
    );
    const without = await run(check, ['-f', 'docker-compose.yml'], { cwd: root, env }).then(
      () => null,
      (err: { stderr?: string }) => err.stderr ?? '',
    );
    expect(without).toMatch(/required variable API_SECRET_KEY is missing a value/);
  });

  it('every manifest is accepted by kubectl apply --dry-run=server; applied, the API and worker Deployments are created and their pods run', async () => {
    // Namespaced objects are checked in their namespace: it has to exist (the dry run would not create it).
    await kubectl('apply', '-f', 'k8s/namespaces.yaml');
    const dry = await kubectl('apply', '--dry-run=server', '-k', 'k8s');
    const accepted = dry.stdout.split('\n').filter((l) => /\(server dry run\)$/.test(l));
    const rendered = (await kubectl('kustomize', 'k8s')).stdout.split(/^---$/m).filter((d) => /\bkind:/.test(d));
    expect(accepted.length).toBe(rendered.length);
    for (const kind of [
      'deployment.apps/codex32-api',
      'deployment.apps/codex32-worker',
      'poddisruptionbudget.policy/codex32-api',
      'ingress.networking.k8s.io/codex32-api',
      'role.rbac.authorization.k8s.io/',
      'rolebinding.rbac.authorization.k8s.io/',
      'networkpolicy.networking.k8s.io/',
      'service/codex32-api',
      'configmap/codex32-config',
    ]) {
      expect(dry.stdout, kind).toContain(kind);
    }
    // The Secret template, filled in, is a valid Secret too.
    const template = (await kubectl('apply', '--dry-run=server', '-f', 'k8s/secret.example.yaml')).stdout;
    expect(template).toMatch(/secret\/codex32-secrets created \(server dry run\)/);

    await kubectl('apply', '-f', 'k8s/secret.example.yaml');
    await kubectl('apply', '-k', 'k8s');
    const api = await apps.readNamespacedDeployment({ name: 'codex32-api', namespace: 'codex32' });
    const worker = await apps.readNamespacedDeployment({ name: 'codex32-worker', namespace: 'codex32' });
    expect(api.spec?.replicas).toBeGreaterThanOrEqual(2);
    expect(worker.spec?.template.spec?.serviceAccountName).toBe('codex32-worker');
    const probes = (d: typeof api) => d.spec!.template.spec!.containers[0]!;
    expect(probes(api).livenessProbe?.httpGet?.path).toBe('/health');
    expect(probes(api).readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(probes(worker).readinessProbe?.httpGet?.path).toBe('/health/ready');
    await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: 'codex32' })).items;
        const running = (name: string) =>
          pods.filter((p) => p.metadata?.labels?.['app.kubernetes.io/name'] === name && p.status?.phase === 'Running')
            .length;
        return running('codex32-api') >= 2 && running('codex32-worker') >= 1;
      },
      'the API and worker pods Running (on KWOK nodes)',
      60_000,
      250,
    );

    // What the worker's RBAC allows: bots' objects in codex32-bots, nothing elsewhere.
    const can = async (verb: string, resource: string, namespace: string) =>
      (
        await kubectl(
          'auth',
          'can-i',
          verb,
          resource,
          '-n',
          namespace,
          '--as',
          'system:serviceaccount:codex32:codex32-worker',
        ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
      ).stdout.trim();
    expect(await can('create', 'deployments.apps', 'codex32-bots')).toBe('yes');
    expect(await can('create', 'secrets', 'codex32-bots')).toBe('yes');
    expect(await can('delete', 'pods', 'codex32-bots')).toBe('yes');
    expect(await can('create', 'deployments.apps', 'default')).toBe('no');
    expect(await can('get', 'secrets', 'codex32')).toBe('no');
  });
});
