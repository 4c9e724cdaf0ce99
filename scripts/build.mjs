#!/usr/bin/env node
// npm run build: the TypeScript into dist/ and the pre-bundled workflow code, each redone only when
// its inputs changed since the last build (a fingerprint of their contents, kept in dist/), so that
// `npm start` after a crash is up in seconds. tsc itself is incremental (dist/.tsbuildinfo).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

function files(entry) {
  const full = path.join(root, entry);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [entry];
  return readdirSync(full).flatMap((name) => files(path.join(entry, name)));
}

/** One hash of the paths and contents of `entries` (files, or folders read whole). */
function fingerprint(entries) {
  const hash = createHash('sha256');
  for (const file of entries.flatMap(files).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(path.join(root, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

function step(name, stampFile, inputs, outputs, ...commands) {
  const stamp = path.join(dist, stampFile);
  const print = fingerprint(inputs);
  const built =
    outputs.every((o) => existsSync(path.join(root, o))) && existsSync(stamp) && readFileSync(stamp, 'utf8') === print;
  if (built) return;
  for (const [command, ...args] of commands) {
    const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`${name} failed (exit ${r.status ?? r.signal}); fix the error above and run the command again.`);
      process.exit(r.status ?? 1);
    }
  }
  mkdirSync(dist, { recursive: true });
  writeFileSync(stamp, print);
}

const tsconfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8'));
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
step(
  'tsc',
  '.build-stamp',
  [...tsconfig.include, 'tsconfig.json', 'tsconfig.build.json', 'package.json'],
  ['dist/bin/start.js'],
  [process.execPath, tsc, '-p', 'tsconfig.build.json'],
);
// The bundle holds the workflows and what they import (lib/, activity types), built with the locked dependencies.
step(
  'the workflow bundle',
  '.bundle-stamp',
  ['workflows', 'lib', 'activities', 'package-lock.json'],
  ['dist/workflow-bundle.js'],
  [process.execPath, path.join(dist, 'scripts', 'bundle-workflows.js')],
);
// The console's API client is typed from the OpenAPI document: both are redone when a route or schema changes.
step(
  "the OpenAPI document and the console's API types",
  '.openapi-stamp',
  ['api', 'lib', 'registry', 'workflows/messages.ts', 'package-lock.json'],
  ['dist/openapi.json', 'console/src/api/schema.d.ts'],
  [process.execPath, path.join(dist, 'scripts', 'openapi-document.js')],
  [
    process.execPath,
    path.join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
    'dist/openapi.json',
    '--output',
    'console/src/api/schema.d.ts',
    '--silent',
  ],
);
// The CLI is a client of the API, typed from the document just generated: it compiles after it.
const cliConfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.cli.json'), 'utf8'));
step(
  'tsc (the CLI)',
  '.cli-stamp',
  [...cliConfig.include, 'console/src/api/schema.d.ts', 'tsconfig.json', 'tsconfig.cli.json', 'package.json'],
  ['dist/bin/codex32.js'],
  [process.execPath, tsc, '-p', 'tsconfig.cli.json'],
);
// The console: Vite bundles it into dist/console (fingerprinted file names); the platform serves it at /.
step(
  'the console',
  '.console-stamp',
  ['console', 'package-lock.json'],
  ['dist/console/index.html'],
  [
    process.execPath,
    path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
    'build',
    '--config',
    'console/vite.config.ts',
    '--logLevel',
    'warn',
  ],
);
