#!/usr/bin/env node
// A real Kubernetes control plane for tests, without a container engine: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and KWOK (fake nodes whose pods KWOK's Stages move
// through their phases). The binaries come from scripts/k8s/build.sh (.tools/k8s/bin).
//
//   node scripts/k8s/cluster.mjs start     # prints the admin kubeconfig's path on stdout
//   node scripts/k8s/cluster.mjs status
//   node scripts/k8s/cluster.mjs stop
//   node scripts/k8s/cluster.mjs restart
//
// As a module: `const { kubeconfig } = await startCluster(); ...; await stopCluster();`
// Ports (127.0.0.1 only): K8S_APISERVER_PORT (26443), K8S_ETCD_PORT (22379), K8S_ETCD_PEER_PORT (22380).
// Everything lives in .tools/k8s/run (K8S_TOOLS_DIR moves .tools/k8s): kubeconfig, pki/, logs/, etcd/.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CLUSTER_NAME = 'codex32-test';
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';
const POD_CIDR = '10.244.0.0/16';
const FAKE_NODE_ANNOTATION = ['kwok.x-k8s.io/node', 'fake'];
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

function options(opts = {}) {
  const env = process.env;
  const toolsDir = path.resolve(opts.toolsDir ?? env.K8S_TOOLS_DIR ?? path.join(ROOT, '.tools/k8s'));
  const runDir = path.join(toolsDir, 'run');
  const port = (v, name) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}: not a port: ${v}`);
    return n;
  };
  return {
    toolsDir,
    runDir,
    binDir: path.join(toolsDir, 'bin'),
    shareDir: path.join(toolsDir, 'share/kwok'),
    pkiDir: path.join(runDir, 'pki'),
    logDir: path.join(runDir, 'logs'),
    stateFile: path.join(runDir, 'cluster.json'),
    kubeconfig: path.join(runDir, 'kubeconfig'),
    apiserverPort: port(opts.apiserverPort ?? env.K8S_APISERVER_PORT ?? 26443, 'apiserverPort'),
    etcdPort: port(opts.etcdPort ?? env.K8S_ETCD_PORT ?? 22379, 'etcdPort'),
    etcdPeerPort: port(opts.etcdPeerPort ?? env.K8S_ETCD_PEER_PORT ?? 22380, 'etcdPeerPort'),
    nodes: opts.nodes ?? 2,
    build: opts.build ?? true,
    fresh: opts.fresh ?? false,
    smokeTest: opts.smokeTest ?? true,
    log: opts.log ?? ((msg) => process.stderr.write(`[k8s] ${msg}\n`)),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class ClusterError extends Error {}

// ---------------------------------------------------------------- processes

function readState(o) {
  try {
    return JSON.parse(fs.readFileSync(o.stateFile, 'utf8'));
  } catch {
    return null;
  }
}

/** True while pid is a live (not zombie) process running the given binary. */
function isOurs(pid, bin) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === bin;
  } catch {
    return false;
  }
}

function logTail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function startProcess(o, state, name, args) {
  const bin = path.join(o.binDir, name);
  const logFile = path.join(o.logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { cwd: o.runDir, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.unref();
  const entry = { name, pid: child.pid, bin, log: logFile, exited: null };
  child.on('exit', (code, signal) => {
    entry.exited = signal ?? code;
  });
  child.on('error', (err) => {
    entry.exited = err.message;
  });
  state.processes.push(entry);
  writeState(o, state);
  o.log(`started ${name} (pid ${child.pid}), log ${path.relative(ROOT, logFile)}`);
  return entry;
}

function writeState(o, state) {
  const data = { ...state, processes: state.processes.map(({ name, pid, bin, log }) => ({ name, pid, bin, log })) };
  fs.writeFileSync(o.stateFile, JSON.stringify(data, null, 2) + '\n');
}

function failure(message, entries) {
  const tails = entries.map((e) => `--- ${e.name} (${e.log}), last lines:\n${logTail(e.log)}`).join('\n');
  return new ClusterError(`${message}\n${tails}`);
}

/** Polls check() until it returns a truthy value; fails early if a started process exits. */
async function waitFor(what, check, { timeoutMs, state, blame }) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    const dead = state.processes.filter((e) => e.exited !== null || !isOurs(e.pid, e.bin));
    if (dead.length) {
      throw failure(
        `${dead.map((e) => `${e.name} exited (${e.exited ?? 'gone'})`).join(', ')} while waiting for ${what}`,
        dead,
      );
    }
    try {
      const result = await check();
      if (result) return result;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      const entries = state.processes.filter((e) => blame.includes(e.name));
      throw failure(`timed out after ${timeoutMs / 1000}s waiting for ${what}${why}`, entries);
    }
    await sleep(250);
  }
}

async function killAll(o, processes) {
  // kwok, the scheduler and the controller-manager first, then the apiserver (whose shutdown
  // waits for etcd), then etcd.
  const groups = [['kwok', 'kube-scheduler', 'kube-controller-manager'], ['kube-apiserver'], ['etcd']];
  for (const names of groups) {
    const live = processes.filter((e) => names.includes(e.name) && isOurs(e.pid, e.bin));
    for (const e of live) {
      try {
        process.kill(e.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && live.some((e) => isOurs(e.pid, e.bin))) await sleep(50);
    for (const e of live.filter((p) => isOurs(p.pid, p.bin))) {
      o.log(`${e.name} (pid ${e.pid}) ignored SIGTERM for 10s: SIGKILL`);
      try {
        process.kill(e.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const e of live) o.log(`stopped ${e.name} (pid ${e.pid})`);
  }
}

// ---------------------------------------------------------------- certificates and kubeconfigs

const OPENSSL_CNF = `[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP:127.0.0.1, IP:${SERVICE_IP}
`;

function openssl(o, args) {
  const r = spawnSync('openssl', args, { cwd: o.pkiDir, encoding: 'utf8' });
  if (r.error) throw new ClusterError(`openssl: ${r.error.message} (is openssl installed?)`);
  if (r.status !== 0) throw new ClusterError(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

function writeKey(file, type = 'ec') {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return publicKey;
}

function makePki(o) {
  fs.mkdirSync(o.pkiDir, { recursive: true });
  fs.writeFileSync(path.join(o.pkiDir, 'openssl.cnf'), OPENSSL_CNF);
  const days = '3650';
  writeKey(path.join(o.pkiDir, 'ca.key'));
  openssl(o, [
    'req',
    '-x509',
    '-new',
    '-config',
    'openssl.cnf',
    '-extensions',
    'v3_ca',
    '-key',
    'ca.key',
    '-subj',
    `/CN=${CLUSTER_NAME}-ca`,
    '-days',
    days,
    '-out',
    'ca.crt',
  ]);
  const leaf = (name, subj, ext) => {
    writeKey(path.join(o.pkiDir, `${name}.key`));
    openssl(o, [
      'req',
      '-x509',
      '-new',
      '-config',
      'openssl.cnf',
      '-extensions',
      ext,
      '-key',
      `${name}.key`,
      '-subj',
      subj,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-days',
      days,
      '-out',
      `${name}.crt`,
    ]);
  };
  leaf('apiserver', '/CN=kube-apiserver', 'v3_server');
  // Clients authenticate with certificates from this CA (the apiserver's --client-ca-file).
  leaf('admin', '/O=system:masters/CN=codex32-admin', 'v3_client');
  leaf('kube-controller-manager', '/CN=system:kube-controller-manager', 'v3_client');
  leaf('kube-scheduler', '/CN=system:kube-scheduler', 'v3_client');
  leaf('kwok', '/O=system:masters/CN=kwok-controller', 'v3_client');
  const saPub = writeKey(path.join(o.pkiDir, 'sa.key'), 'rsa');
  fs.writeFileSync(path.join(o.pkiDir, 'sa.pub'), saPub.export({ type: 'spki', format: 'pem' }));
}

function kubeconfigText(o, user) {
  const b64 = (f) => fs.readFileSync(path.join(o.pkiDir, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: ${CLUSTER_NAME}
  cluster:
    server: https://127.0.0.1:${o.apiserverPort}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(`${user}.crt`)}
    client-key-data: ${b64(`${user}.key`)}
contexts:
- name: ${CLUSTER_NAME}
  context:
    cluster: ${CLUSTER_NAME}
    user: ${user}
    namespace: default
current-context: ${CLUSTER_NAME}
`;
}

// ---------------------------------------------------------------- a small API client

function apiClient(o) {
  const read = (f) => fs.readFileSync(path.join(o.pkiDir, f));
  const agent = new https.Agent({
    ca: read('ca.crt'),
    cert: read('admin.crt'),
    key: read('admin.key'),
    keepAlive: true,
  });
  const request = (method, urlPath, body, contentType = 'application/json') =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = https.request(
        {
          host: '127.0.0.1',
          port: o.apiserverPort,
          path: urlPath,
          method,
          agent,
          timeout: 10_000,
          headers: { Accept: 'application/json', ...(data === undefined ? {} : { 'Content-Type': contentType }) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            let json;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode, text, json });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  const ok = async (method, urlPath, body, contentType) => {
    const r = await request(method, urlPath, body, contentType);
    if (r.status >= 300)
      throw new Error(`${method} ${urlPath}: HTTP ${r.status}: ${r.json?.message ?? r.text.slice(0, 300)}`);
    return r.json;
  };
  return { request, ok, close: () => agent.destroy() };
}

/** Server-side applies each YAML document (a cluster-scoped object) to `${collection}/${name}`. */
async function applyYamlDocs(api, collection, yamlText) {
  const docs = yamlText.split(/^---\s*$/m).filter((d) => /^kind:/m.test(d));
  for (const doc of docs) {
    const name = /^metadata:\n(?:[ \t]+.*\n)*?[ \t]+name:[ \t]*['"]?([^'"\s]+)/m.exec(doc)?.[1];
    if (!name) throw new ClusterError(`no metadata.name in:\n${doc.slice(0, 300)}`);
    await api.ok(
      'PATCH',
      `${collection}/${name}?fieldManager=codex32-cluster&force=true`,
      doc,
      'application/apply-patch+yaml',
    );
  }
  return docs.length;
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------- cluster objects

function fakeNode(name) {
  const resources = { cpu: '32', memory: '256Gi', pods: '1000', 'ephemeral-storage': '1Ti' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [FAKE_NODE_ANNOTATION[0]]: FAKE_NODE_ANNOTATION[1], 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        architecture: 'amd64',
        operatingSystem: 'linux',
        kubeletVersion: 'fake',
        kubeProxyVersion: 'fake',
        containerRuntimeVersion: 'kwok',
        osImage: 'kwok',
        kernelVersion: 'kwok',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
      phase: 'Running',
    },
  };
}

const SMOKE = 'codex32-smoke';
const smokeDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: SMOKE, namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: SMOKE } },
    template: {
      metadata: { labels: { app: SMOKE } },
      spec: { containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10' }] },
    },
  },
};

// ---------------------------------------------------------------- start / stop / status

async function healthy(o, state) {
  if (!state?.processes?.length) return false;
  if (!state.processes.every((e) => isOurs(e.pid, e.bin))) return false;
  if (!fs.existsSync(path.join(o.pkiDir, 'admin.key'))) return false;
  const api = apiClient(o);
  try {
    const r = await api.request('GET', '/readyz');
    return r.status === 200;
  } catch {
    return false;
  } finally {
    api.close();
  }
}

/**
 * Starts the cluster (building the binaries first if needed) and resolves once a Deployment's pod
 * has reached Running on a KWOK node. A cluster that is already running and healthy is reused
 * (reused: true) unless opts.fresh; leftovers of a broken one are stopped first.
 * @returns {Promise<{kubeconfig: string, server: string, runDir: string, reused: boolean}>}
 */
export async function startCluster(opts = {}) {
  const o = options(opts);
  const server = `https://127.0.0.1:${o.apiserverPort}`;
  const previous = readState(o);
  if (previous) {
    if (!o.fresh && (await healthy(o, previous))) {
      o.log(`already running (${previous.processes.map((e) => `${e.name} ${e.pid}`).join(', ')}); reusing it`);
      return { kubeconfig: o.kubeconfig, server: previous.server, runDir: o.runDir, reused: true };
    }
    o.log(
      o.fresh ? 'restarting the running cluster' : 'a previous cluster is not healthy: stopping what is left of it',
    );
    await stopCluster(opts);
  }

  if (o.build) {
    const r = spawnSync('bash', [path.join(HERE, 'build.sh')], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, K8S_TOOLS_DIR: o.toolsDir },
    });
    if (r.status !== 0) throw new ClusterError(`scripts/k8s/build.sh failed (exit ${r.status ?? r.signal})`);
  }
  for (const name of COMPONENTS) {
    if (!fs.existsSync(path.join(o.binDir, name)))
      throw new ClusterError(`${path.join(o.binDir, name)} is missing: run scripts/k8s/build.sh`);
  }

  for (const [name, port] of [
    ['K8S_APISERVER_PORT', o.apiserverPort],
    ['K8S_ETCD_PORT', o.etcdPort],
    ['K8S_ETCD_PEER_PORT', o.etcdPeerPort],
  ]) {
    if (!(await portFree(port))) throw new ClusterError(`port ${port} on 127.0.0.1 is in use: free it or set ${name}`);
  }

  const t0 = Date.now();
  fs.rmSync(o.runDir, { recursive: true, force: true });
  fs.mkdirSync(o.logDir, { recursive: true });
  makePki(o);
  fs.writeFileSync(o.kubeconfig, kubeconfigText(o, 'admin'), { mode: 0o600 });
  for (const user of ['kube-controller-manager', 'kube-scheduler', 'kwok']) {
    fs.writeFileSync(path.join(o.runDir, `${user}.kubeconfig`), kubeconfigText(o, user), { mode: 0o600 });
  }
  const pki = (f) => path.join(o.pkiDir, f);
  const state = {
    server,
    kubeconfig: o.kubeconfig,
    ports: { apiserver: o.apiserverPort, etcd: o.etcdPort, etcdPeer: o.etcdPeerPort },
    startedAt: new Date().toISOString(),
    processes: [],
  };
  writeState(o, state);
  const api = apiClient(o);
  const step = (msg) => o.log(`${msg} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);

  try {
    const etcdUrl = `http://127.0.0.1:${o.etcdPort}`;
    const peerUrl = `http://127.0.0.1:${o.etcdPeerPort}`;
    startProcess(o, state, 'etcd', [
      '--name=codex32',
      `--data-dir=${path.join(o.runDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=codex32=${peerUrl}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync',
      '--quota-backend-bytes=2147483648',
      '--log-level=warn',
    ]);
    await waitFor(
      'etcd /health',
      async () => {
        const r = await httpGet(`${etcdUrl}/health`);
        return r.status === 200 && r.text.includes('"health":"true"');
      },
      { timeoutMs: 60_000, state, blame: ['etcd'] },
    );
    step('etcd is healthy');

    startProcess(o, state, 'kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${o.apiserverPort}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      '--profiling=false',
      // Endpoints may not hold a loopback address, so the `kubernetes` Service gets none.
      '--endpoint-reconciler-type=none',
    ]);
    await waitFor('kube-apiserver /readyz', async () => (await api.request('GET', '/readyz')).status === 200, {
      timeoutMs: 180_000,
      state,
      blame: ['kube-apiserver', 'etcd'],
    });
    step('kube-apiserver is ready');

    startProcess(o, state, 'kube-controller-manager', [
      `--kubeconfig=${path.join(o.runDir, 'kube-controller-manager.kubeconfig')}`,
      '--secure-port=0',
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki('sa.key')}`,
      `--root-ca-file=${pki('ca.crt')}`,
      `--cluster-signing-cert-file=${pki('ca.crt')}`,
      `--cluster-signing-key-file=${pki('ca.key')}`,
      `--cluster-name=${CLUSTER_NAME}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--kube-api-qps=100',
      '--kube-api-burst=200',
    ]);
    startProcess(o, state, 'kube-scheduler', [
      `--kubeconfig=${path.join(o.runDir, 'kube-scheduler.kubeconfig')}`,
      '--secure-port=0',
      '--leader-elect=false',
    ]);

    // KWOK takes its Stages from the API (--enable-crds=Stage), so more can be applied later.
    const crdName = 'stages.kwok.x-k8s.io';
    await applyYamlDocs(
      api,
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      fs.readFileSync(path.join(o.shareDir, 'stage-crd.yaml'), 'utf8'),
    );
    await waitFor(
      `CRD ${crdName} Established`,
      async () => {
        const crd = await api.ok('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`);
        return (
          crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') &&
          (await api.request('GET', '/apis/kwok.x-k8s.io/v1alpha1/stages')).status === 200
        );
      },
      { timeoutMs: 60_000, state, blame: ['kube-apiserver'] },
    );
    const n = await applyYamlDocs(
      api,
      '/apis/kwok.x-k8s.io/v1alpha1/stages',
      fs.readFileSync(path.join(o.shareDir, 'stages.yaml'), 'utf8'),
    );
    step(`installed KWOK's Stage CRD and ${n} default Stages`);

    const kwokConfig = path.join(o.runDir, 'kwok.yaml');
    // Its own (empty) config, so that a ~/.kwok/kwok.yaml is not read; a KwokConfiguration
    // written here would lose KWOK's defaults (kwok v0.8.0 defaults only a missing one).
    fs.writeFileSync(kwokConfig, '# kwok takes its options from flags\n');
    startProcess(o, state, 'kwok', [
      `--kubeconfig=${path.join(o.runDir, 'kwok.kubeconfig')}`,
      `--config=${kwokConfig}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION.join('=')}`,
      '--enable-crds=Stage',
      '--node-lease-duration-seconds=40',
      `--cidr=${POD_CIDR}`,
      '--node-ip=127.0.0.1',
    ]);

    const nodeNames = Array.from({ length: o.nodes }, (_, i) => `kwok-node-${i}`);
    for (const name of nodeNames) await api.ok('POST', '/api/v1/nodes', fakeNode(name));
    await waitFor(
      `nodes ${nodeNames.join(', ')} Ready`,
      async () => {
        const list = await api.ok('GET', '/api/v1/nodes');
        const ready = list.items.filter((nd) =>
          nd.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return nodeNames.every((name) => ready.some((nd) => nd.metadata.name === name));
      },
      { timeoutMs: 60_000, state, blame: ['kwok'] },
    );
    step(`fake nodes Ready: ${nodeNames.join(', ')}`);

    await waitFor(
      'ServiceAccount default/default',
      async () => (await api.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      { timeoutMs: 60_000, state, blame: ['kube-controller-manager'] },
    );
    step('ServiceAccount default/default exists');

    if (o.smokeTest) {
      await api.ok('POST', '/apis/apps/v1/namespaces/default/deployments', smokeDeployment);
      const pod = await waitFor(
        `a Running pod of Deployment ${SMOKE}`,
        async () => {
          const list = await api.ok('GET', `/api/v1/namespaces/default/pods?labelSelector=app%3D${SMOKE}`);
          return list.items.find((p) => p.status?.phase === 'Running');
        },
        { timeoutMs: 90_000, state, blame: ['kube-controller-manager', 'kube-scheduler', 'kwok'] },
      );
      step(`smoke pod ${pod.metadata.name} Running on ${pod.spec.nodeName}`);
      await api.ok('DELETE', `/apis/apps/v1/namespaces/default/deployments/${SMOKE}`, {
        propagationPolicy: 'Background',
      });
      await waitFor(
        `the smoke Deployment's ReplicaSet and pod to be garbage-collected`,
        async () => {
          const pods = await api.ok('GET', `/api/v1/namespaces/default/pods?labelSelector=app%3D${SMOKE}`);
          const rs = await api.ok('GET', `/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3D${SMOKE}`);
          return pods.items.length === 0 && rs.items.length === 0;
        },
        { timeoutMs: 60_000, state, blame: ['kube-controller-manager', 'kwok'] },
      );
      step('smoke Deployment deleted (ReplicaSet and pod cascaded)');
    }
  } catch (err) {
    api.close();
    o.log(
      `start failed; stopping the components (logs stay in ${path.relative(ROOT, o.logDir)} until the next start/stop)`,
    );
    await killAll(o, state.processes);
    throw err;
  }
  api.close();
  o.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${server}, kubeconfig ${o.kubeconfig}`);
  return { kubeconfig: o.kubeconfig, server, runDir: o.runDir, reused: false };
}

/** Stops every recorded component (SIGTERM, then SIGKILL after 10s) and removes the run dir. */
export async function stopCluster(opts = {}) {
  const o = options(opts);
  const state = readState(o);
  if (state?.processes?.length) await killAll(o, state.processes);
  else o.log('no cluster recorded as running');
  fs.rmSync(o.runDir, { recursive: true, force: true });
}

/** @returns {Promise<{running: boolean, ready: boolean, kubeconfig: string|null, processes: object[]}>} */
export async function clusterStatus(opts = {}) {
  const o = options(opts);
  const state = readState(o);
  const processes = (state?.processes ?? []).map((e) => ({
    name: e.name,
    pid: e.pid,
    alive: isOurs(e.pid, e.bin),
    log: e.log,
  }));
  const ready = await healthy(o, state);
  return {
    running: processes.length > 0 && processes.every((p) => p.alive),
    ready,
    kubeconfig: state ? o.kubeconfig : null,
    server: state?.server ?? null,
    processes,
  };
}

async function main(cmd = 'start') {
  switch (cmd) {
    case 'start':
    case 'restart': {
      const { kubeconfig } = await startCluster({ fresh: cmd === 'restart' });
      process.stdout.write(`${kubeconfig}\n`);
      return 0;
    }
    case 'stop':
      await stopCluster();
      return 0;
    case 'status': {
      const s = await clusterStatus();
      for (const p of s.processes)
        process.stdout.write(
          `${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${p.alive ? 'running' : 'NOT RUNNING'}\n`,
        );
      process.stdout.write(
        s.processes.length
          ? `apiserver ${s.server}: ${s.ready ? 'ready' : 'NOT READY'}\nkubeconfig: ${s.kubeconfig}\n`
          : 'not running\n',
      );
      return s.ready && s.running ? 0 : 3;
    }
    default:
      process.stderr.write('usage: node scripts/k8s/cluster.mjs start|stop|restart|status\n');
      return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`[k8s] ${err instanceof ClusterError ? err.message : err.stack}\n`);
      process.exit(1);
    },
  );
}
