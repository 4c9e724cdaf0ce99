#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type { Io } from '../cli/commands/deploy.js';
import type { CliExit } from '../cli/exit-codes.js';

/** The package's version, read beside the build (dist/bin → the project root). */
function version(): string {
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout
    }
  }
  return 'unknown';
}

async function main(): Promise<number> {
  // `codex32 --version` answers before anything else loads: pipelines call it to check the tool is there.
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [{ CommanderError }, { CliExit, EXIT }, { createProgram }] = await Promise.all([
    import('commander'),
    import('../cli/exit-codes.js'),
    import('../cli/program.js'),
  ]);
  let exit: CliExit | null = null;
  const program = createProgram(version(), async (action) => {
    const [{ readSettings }, { createApi }, { Progress }] = await Promise.all([
      import('../cli/settings.js'),
      import('../cli/api-client.js'),
      import('../cli/progress.js'),
    ]);
    const settings = await readSettings(process.env, Boolean(process.stderr.isTTY));
    const progress = new Progress(process.stderr, settings.interactive);
    const io: Io = {
      api: createApi(settings),
      settings,
      progress,
      stdout: (text) => process.stdout.write(`${text}\n`),
    };
    try {
      exit = await action(io);
    } finally {
      progress.done();
    }
  });
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.refused;
    if (err instanceof CliExit) exit = err;
    else throw err;
  }
  const final = exit as CliExit | null;
  // stdout carries what --json asks for; words for people go to stderr.
  if (final?.message) process.stderr.write(`${final.message}\n`);
  return final?.code ?? EXIT.ok;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`codex32: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
