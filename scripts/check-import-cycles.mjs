#!/usr/bin/env node
// Fails (exit 1) when any TypeScript module of the repository imports itself through others: an
// import loop, type-only imports included (a loop of types is still a knot in the design). Part of
// `npm run lint`. Reads the sources with TypeScript's own pre-processor; resolves relative imports only.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', 'dist', '.tools', '.data', 'logs', '.git', 'bots']);

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** './x.js' (NodeNext spelling) or './x' to the .ts file it names, or null outside the repository's sources. */
function resolve(from, specifier, known) {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    `${base}.ts`,
    path.join(base, 'index.ts'),
  ]) {
    if (known.has(candidate)) return candidate;
  }
  return null;
}

const files = sources(root);
const known = new Set(files);
const graph = new Map(
  files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    return [file, [...new Set(importedFiles.map((i) => resolve(file, i.fileName, known)).filter(Boolean))]];
  }),
);

// Tarjan's strongly connected components: every component of more than one module (or a module importing itself) is a loop.
let index = 0;
const stack = [];
const state = new Map();
const loops = [];
function visit(v) {
  state.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v)) {
    if (!state.has(w)) {
      visit(w);
      state.get(v).low = Math.min(state.get(v).low, state.get(w).low);
    } else if (state.get(w).onStack) {
      state.get(v).low = Math.min(state.get(v).low, state.get(w).index);
    }
  }
  if (state.get(v).low === state.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      state.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v).includes(v)) loops.push(component);
  }
}
for (const file of files) if (!state.has(file)) visit(file);

/** One concrete loop through a component, for the message: a path from its first module back to it. */
function example(component) {
  const members = new Set(component);
  const start = component.slice().sort()[0];
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v)) {
      if (!members.has(w)) continue;
      if (w === start) {
        const loop = [start];
        for (let at = v; at !== start; at = previous.get(at)) loop.splice(1, 0, at);
        return [...loop, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

const rel = (f) => path.relative(root, f);
if (loops.length > 0) {
  console.error(
    `${loops.length} import loop(s) among ${files.length} modules; break each (move what both sides need into a module of its own, lower down):`,
  );
  for (const component of loops)
    console.error(
      `  ${example(component).map(rel).join(' → ')}${component.length > 2 ? `  (${component.length} modules in this knot)` : ''}`,
    );
  process.exit(1);
}
console.log(`no import loops among ${files.length} modules`);
