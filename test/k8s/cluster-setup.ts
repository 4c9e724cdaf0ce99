import fs from 'node:fs/promises';
import path from 'node:path';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import type { TestProject } from 'vitest/node';
import { projectRoot } from '../../lib/project-root.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

interface Cluster {
  kubeconfig: string;
}
interface ClusterModule {
  startCluster: () => Promise<Cluster>;
  stopCluster: () => Promise<void>;
}

const clusterModule = (): Promise<ClusterModule> =>
  import(path.join(projectRoot(), 'scripts', 'k8s', 'cluster.mjs')) as Promise<ClusterModule>;

/**
 * A real Kubernetes control plane for the suite (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, and KWOK for nodes), built once
 * into .tools/k8s by scripts/k8s/build.sh and started fresh for each run.
 * test/k8s/fault-stages.yaml makes pods of some images fail as a kubelet would show it.
 */
export async function setup(project: TestProject): Promise<void> {
  const { startCluster } = await clusterModule();
  const cluster = await startCluster();
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const stage of loadAllYaml(
    await fs.readFile(path.join(projectRoot(), 'test', 'k8s', 'fault-stages.yaml'), 'utf8'),
  ) as KubernetesObject[]) {
    await objects.create(stage).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  }
  project.provide('kubeconfig', cluster.kubeconfig);
}

export async function teardown(): Promise<void> {
  const { stopCluster } = await clusterModule();
  await stopCluster();
}
