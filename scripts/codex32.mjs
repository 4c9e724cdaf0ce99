#!/usr/bin/env node
// The `codex32` command (package.json "bin"): runs the built CLI, building it first in a fresh clone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'bin', 'codex32.js');
if (!existsSync(cli)) {
  process.stderr.write('codex32: building the platform first (npm run build)…\n');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import(pathToFileURL(cli).href);
