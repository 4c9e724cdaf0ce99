#!/usr/bin/env node
// Static checks of the deployment files against the code, after `npm run build`:
//   - every environment variable that Dockerfile (runtime stage), docker-compose.yml
//     (the services running the Codex-32 image) and k8s/ (ConfigMaps, the Secret
//     template k8s/secret.example.yaml, containers' env) set is a variable of the
//     config schema (dist/lib/config.js, configSchema.shape);
//   - the entry points they run (dist/bin/*.js) exist, and api, worker and migrate
//     are each run by compose and by the manifests;
//   - `kubectl kustomize k8s` renders; every rendered object and pod template carries
//     the app.kubernetes.io name/component/part-of labels; envFrom names something
//     that exists; no placeholder (CHANGE-ME) Secret is rendered.
// Exit 0 when all hold, 1 with one line per problem otherwise, 2 when it cannot run.
//
//   node scripts/check-deploy-files.mjs [--root DIR]      (KUBECTL=path overrides kubectl)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ENTRY_POINTS = ['dist/bin/api.js', 'dist/bin/worker.js', 'dist/bin/migrate.js'];
const LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of'];
const PLATFORM_SERVICES = ['migrate', 'api', 'worker'];
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod']);

function cannotRun(message) {
  console.error(`check-deploy-files: ${message}`);
  process.exit(2);
}

const args = process.argv.slice(2);
const rootFlag = args.indexOf('--root');
const root = path.resolve(
  rootFlag >= 0 && args[rootFlag + 1]
    ? args[rootFlag + 1]
    : path.join(path.dirname(fileURLToPath(import.meta.url)), '..'),
);
const rel = (p) => path.relative(root, p) || '.';

let YAML;
try {
  YAML = await import('yaml');
} catch {
  cannotRun('the "yaml" package is not installed (npm ci installs it with the other dependencies)');
}

const problems = [];
const notes = [];
const problem = (where, message) => problems.push(`${where}: ${message}`);

// --- the config schema ---------------------------------------------------------
const configJs = path.join(root, 'dist', 'lib', 'config.js');
if (!existsSync(configJs)) cannotRun(`${rel(configJs)} is missing: run npm run build first`);
const { configSchema } = await import(pathToFileURL(configJs).href);
if (!configSchema?.shape) cannotRun(`${rel(configJs)} exports no configSchema (a zod object)`);
const schemaKeys = new Set(Object.keys(configSchema.shape));
const known = schemaKeys;

function checkNames(where, names) {
  for (const name of names) {
    if (!known.has(name)) problem(where, `${name} is not a variable of lib/config.ts (see .env.template)`);
  }
}

/** The dist/bin/*.js named in a command; each must exist. */
function checkEntryPoints(where, words) {
  const found = [];
  for (const m of words.join(' ').matchAll(/\bdist\/bin\/[\w.-]+\.js\b/g)) {
    found.push(m[0]);
    if (!existsSync(path.join(root, m[0]))) problem(where, `runs ${m[0]}, which does not exist (npm run build?)`);
  }
  return found;
}

function readText(file) {
  if (!existsSync(file)) {
    problem(rel(file), 'missing');
    return null;
  }
  return readFileSync(file, 'utf8');
}

function parseYaml(file, text, all = false) {
  try {
    if (!all) return YAML.parse(text, { merge: true });
    const docs = YAML.parseAllDocuments(text, { merge: true });
    for (const d of docs) if (d.errors.length) throw d.errors[0];
    return docs.map((d) => d.toJS()).filter((d) => d != null);
  } catch (err) {
    problem(rel(file), `not valid YAML: ${err.message.split('\n')[0]}`);
    return null;
  }
}

// --- Dockerfile (its last stage is the image that runs) ---------------------------
{
  const file = path.join(root, 'Dockerfile');
  const text = readText(file);
  if (text !== null) {
    const lines = text
      .replace(/\\\r?\n/g, ' ')
      .split(/\r?\n/)
      .map((l) => l.trim());
    const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
    const stage = lines.slice(lastFrom + 1);
    for (const line of stage.filter((l) => /^ENV\s/i.test(l))) {
      const body = line.replace(/^ENV\s+/i, '');
      const names = body.includes('=')
        ? [...body.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1])
        : [body.split(/\s+/)[0]];
      checkNames('Dockerfile (ENV)', names);
    }
    const cmd = stage.filter((l) => /^CMD\s/i.test(l)).pop();
    if (!cmd || !checkEntryPoints('Dockerfile (CMD)', [cmd]).includes('dist/bin/api.js'))
      problem('Dockerfile', 'the default CMD does not run dist/bin/api.js');
    const user = stage.filter((l) => /^USER\s/i.test(l)).pop();
    if (!user || /^USER\s+(root|0)(:|\s|$)/i.test(user))
      problem('Dockerfile', 'the runtime stage does not switch to a non-root USER');
    // `npm ci --ignore-scripts` stands in for package.json's allowScripts (npm 11 only):
    // the same only while allowScripts denies every install script in the lockfile.
    if (lines.some((l) => /\bnpm ci\b.*--ignore-scripts/.test(l))) {
      const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
      const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
      for (const [where, entry] of Object.entries(lock.packages ?? {})) {
        const name = where.replace(/^.*node_modules\//, '');
        if (entry.hasInstallScript && where && pkg.allowScripts?.[name] !== false) {
          problem(
            'Dockerfile',
            `npm ci --ignore-scripts skips the install script of ${name}, which package.json's allowScripts does not deny`,
          );
        }
      }
    }
  }
}

// --- docker-compose.yml --------------------------------------------------------------
{
  const file = path.join(root, 'docker-compose.yml');
  const text = readText(file);
  const compose = text === null ? null : parseYaml(file, text);
  if (compose) {
    const services = compose.services ?? {};
    const envOf = (svc) => {
      const env = svc.environment ?? {};
      if (Array.isArray(env))
        return Object.fromEntries(env.map((e) => String(e).split(/=(.*)/s)).map(([k, v]) => [k, v ?? null]));
      return env;
    };
    const run = new Set();
    for (const name of PLATFORM_SERVICES) {
      const svc = services[name];
      if (!svc) {
        problem('docker-compose.yml', `no service "${name}"`);
        continue;
      }
      const where = `docker-compose.yml (services.${name})`;
      checkNames(where, Object.keys(envOf(svc)));
      if (svc.env_file) problem(where, 'env_file is not checked by this script: set the variables in environment');
      const command = [svc.entrypoint ?? [], svc.command ?? []].flat().map(String);
      for (const e of checkEntryPoints(where, command)) run.add(e);
    }
    for (const e of ENTRY_POINTS) if (!run.has(e)) problem('docker-compose.yml', `no service runs ${e}`);
    const [api, worker, migrate] = ['api', 'worker', 'migrate'].map((n) => (services[n] ? envOf(services[n]) : {}));
    if (!api.API_SECRET_KEY || api.API_SECRET_KEY !== worker.API_SECRET_KEY) {
      problem(
        'docker-compose.yml',
        'api and worker must both set API_SECRET_KEY, to the same value (tokens are signed with it)',
      );
    }
    for (const [name, env] of [
      ['api', api],
      ['worker', worker],
      ['migrate', migrate],
    ]) {
      if (env.DATABASE_URL !== migrate.DATABASE_URL || !env.DATABASE_URL)
        problem('docker-compose.yml', `services.${name} must set the same DATABASE_URL as migrate`);
    }
  }
}

// --- k8s/ --------------------------------------------------------------------------
{
  const dir = path.join(root, 'k8s');
  const kubectl = process.env.KUBECTL || 'kubectl';
  const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  let objects = null;
  if (r.error)
    problem(
      'k8s',
      `cannot run ${kubectl} kustomize (${r.error.code ?? r.error.message}); install kubectl or set KUBECTL`,
    );
  else if (r.status !== 0) problem('k8s', `kubectl kustomize k8s failed: ${r.stderr.trim()}`);
  else objects = parseYaml(path.join(dir, '(kustomize output)'), r.stdout, true);

  const template = path.join(dir, 'secret.example.yaml');
  const templateText = readText(template);
  const templateSecrets = templateText === null ? [] : (parseYaml(template, templateText, true) ?? []);
  for (const s of templateSecrets) {
    if (s.kind !== 'Secret') problem('k8s/secret.example.yaml', `holds a ${s.kind}, not a Secret`);
    checkNames('k8s/secret.example.yaml', [...Object.keys(s.stringData ?? {}), ...Object.keys(s.data ?? {})]);
  }

  if (objects) {
    const id = (o) => `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
    const configMaps = new Set(
      objects.filter((o) => o.kind === 'ConfigMap').map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    );
    const secrets = new Set(
      [...objects.filter((o) => o.kind === 'Secret'), ...templateSecrets].map(
        (o) => `${o.metadata?.namespace}/${o.metadata?.name}`,
      ),
    );
    const run = new Set();
    const checkLabels = (where, labels = {}) => {
      for (const l of LABELS) if (!labels[l]) problem(where, `label ${l} is missing`);
      if (labels['app.kubernetes.io/part-of'] && labels['app.kubernetes.io/part-of'] !== 'codex32')
        problem(where, 'app.kubernetes.io/part-of is not codex32');
    };

    for (const o of objects) {
      const where = `k8s (${id(o)})`;
      checkLabels(where, o.metadata?.labels);
      if (o.kind === 'ConfigMap') checkNames(where, [...Object.keys(o.data ?? {}), ...Object.keys(o.binaryData ?? {})]);
      if (o.kind === 'Secret') {
        checkNames(where, [...Object.keys(o.stringData ?? {}), ...Object.keys(o.data ?? {})]);
        if (JSON.stringify(o).includes('CHANGE-ME'))
          problem(where, 'a placeholder (CHANGE-ME) Secret would be applied');
      }
      if (!WORKLOAD_KINDS.has(o.kind)) continue;
      const template =
        o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
      if (o.kind !== 'Pod') checkLabels(`${where} pod template`, template?.metadata?.labels);
      const pod = template?.spec ?? {};
      const ns = o.metadata?.namespace;
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        const cwhere = `${where} container ${c.name}`;
        checkNames(
          cwhere,
          (c.env ?? []).map((e) => e.name),
        );
        for (const from of c.envFrom ?? []) {
          if (from.prefix) problem(cwhere, `envFrom with prefix ${from.prefix}: the names would not be the config's`);
          if (from.configMapRef && !configMaps.has(`${ns}/${from.configMapRef.name}`))
            problem(cwhere, `envFrom ConfigMap ${from.configMapRef.name} is not in the manifests`);
          if (from.secretRef && !secrets.has(`${ns}/${from.secretRef.name}`))
            problem(
              cwhere,
              `envFrom Secret ${from.secretRef.name} is neither in the manifests nor k8s/secret.example.yaml`,
            );
        }
        for (const e of checkEntryPoints(cwhere, [...(c.command ?? []), ...(c.args ?? [])].map(String))) run.add(e);
      }
    }
    for (const e of ENTRY_POINTS) if (!run.has(e)) problem('k8s', `no container runs ${e}`);
  }
}

for (const n of notes) console.log(`check-deploy-files: note: ${n}`);
if (problems.length > 0) {
  console.error(`check-deploy-files: ${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(
  'check-deploy-files: ok (Dockerfile, docker-compose.yml, k8s/: names from lib/config.ts, entry points in dist/bin, kustomize renders)',
);
