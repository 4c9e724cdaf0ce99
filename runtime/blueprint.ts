import { constants, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export class BlueprintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlueprintError';
  }
}

export interface ResolvedBlueprint {
  /** Normalised path relative to the bots directory: what the registry stores. */
  relative: string;
  /** The file that will run, after symlinks. */
  realPath: string;
  command: string;
  commandArgs: string[];
}

const INTERPRETERS: Record<string, (file: string) => { command: string; commandArgs: string[] }> = {
  '.py': (file) => ({ command: 'python3', commandArgs: ['-u', file] }),
  '.js': (file) => ({ command: process.execPath, commandArgs: [file] }),
  '.mjs': (file) => ({ command: process.execPath, commandArgs: [file] }),
  '.cjs': (file) => ({ command: process.execPath, commandArgs: [file] }),
  '.sh': (file) => ({ command: 'sh', commandArgs: [file] }),
};

/** Extensions that run with an interpreter; any other file must be executable. */
export function runsWithInterpreter(file: string): boolean {
  return Object.hasOwn(INTERPRETERS, path.extname(file).toLowerCase());
}

function isInside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Checks that a blueprint names a runnable file inside the bots directory, after
 * following symlinks, and says how to run it. Called at registration and again
 * at every launch, since the file system may have changed in between.
 */
export async function resolveBlueprint(botsDir: string, blueprint: string): Promise<ResolvedBlueprint> {
  if (blueprint.includes('\0')) throw new BlueprintError('blueprint cannot contain NUL bytes');
  let realBotsDir: string;
  try {
    realBotsDir = await fs.realpath(botsDir);
  } catch {
    throw new BlueprintError(
      `the bots directory (BOTS_DIR=${botsDir}) does not exist; create it or point BOTS_DIR at your bots`,
    );
  }

  const candidates = [path.resolve(botsDir, blueprint)];
  // Accept "bots/x.py" as written from the project root, as well as "x.py".
  const prefix = path.basename(botsDir) + '/';
  if (!path.isAbsolute(blueprint) && blueprint.startsWith(prefix))
    candidates.push(path.resolve(path.dirname(botsDir), blueprint));

  const lexical = candidates.filter((c) => isInside(path.resolve(botsDir), c) || isInside(realBotsDir, c));
  if (lexical.length === 0) {
    throw new BlueprintError(
      `blueprint "${blueprint}" points outside the bots directory; give a path inside BOTS_DIR such as "analytics_bot.py"`,
    );
  }

  let real: string | undefined;
  let found: string | undefined;
  for (const c of lexical) {
    try {
      real = await fs.realpath(c);
      found = c;
      break;
    } catch {
      // try the next reading of the path
    }
  }
  if (!real || !found) {
    throw new BlueprintError(
      `blueprint "${blueprint}" does not exist in the bots directory; check the file name (paths are relative to BOTS_DIR)`,
    );
  }
  if (!isInside(realBotsDir, real)) {
    throw new BlueprintError(
      `blueprint "${blueprint}" resolves (through a symlink) to a file outside the bots directory; bots must live inside BOTS_DIR`,
    );
  }

  const stat = await fs.stat(real);
  if (stat.isDirectory())
    throw new BlueprintError(`blueprint "${blueprint}" is a directory; point at the script file inside it`);
  if (!stat.isFile()) throw new BlueprintError(`blueprint "${blueprint}" is not a regular file`);

  const relative = path.relative(path.resolve(botsDir), found);
  const interpreter = INTERPRETERS[path.extname(real).toLowerCase()];
  if (interpreter) {
    try {
      await fs.access(real, constants.R_OK);
    } catch {
      throw new BlueprintError(`blueprint "${blueprint}" is not readable; fix its permissions`);
    }
    return { relative, realPath: real, ...interpreter(real) };
  }
  // Root passes access(X_OK) for any file with one x bit; the mode itself is the honest check.
  if ((stat.mode & 0o111) === 0) {
    throw new BlueprintError(
      `blueprint "${blueprint}" is not runnable: use a .py, .js, .mjs or .sh file, or make it executable (chmod +x) with a #! line`,
    );
  }
  return { relative, realPath: real, command: real, commandArgs: [] };
}

export interface BlueprintEntry {
  /** Relative to the bots directory: what a bot's `blueprint` names. */
  path: string;
  /** What runs it: python3, node, sh, or the file itself (executable). */
  runs_with: 'python3' | 'node' | 'sh' | 'executable';
  size_bytes: number;
  modified_at: string;
}

const SKIPPED_DIRS = new Set(['node_modules', '__pycache__', 'sdk']);

/**
 * The runnable files under the bots directory, as a registration form offers
 * them: each passes the same check as a launch. Hidden files, dependencies
 * and the SDK (a library the bots import, not a bot) are left out; the walk
 * stops at `limit` files and `maxDepth` levels so a huge tree cannot stall it.
 */
export async function listBlueprints(
  botsDir: string,
  opts: { limit: number; maxDepth: number } = { limit: 1000, maxDepth: 4 },
): Promise<{ blueprints: BlueprintEntry[]; truncated: boolean }> {
  const found: BlueprintEntry[] = [];
  let truncated = false;
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(path.join(botsDir, dir), { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (found.length >= opts.limit) {
        truncated = true;
        return;
      }
      if (entry.name.startsWith('.')) continue;
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (depth < opts.maxDepth && !SKIPPED_DIRS.has(entry.name)) await walk(relative, depth + 1);
        continue;
      }
      try {
        const resolved = await resolveBlueprint(botsDir, relative);
        const stat = await fs.stat(resolved.realPath);
        const runsWith = path.basename(resolved.command);
        found.push({
          path: resolved.relative.split(path.sep).join('/'),
          runs_with:
            resolved.command === resolved.realPath
              ? 'executable'
              : runsWith === 'python3' || runsWith === 'sh'
                ? runsWith
                : 'node',
          size_bytes: stat.size,
          modified_at: stat.mtime.toISOString(),
        });
      } catch (err) {
        if (!(err instanceof BlueprintError)) throw err;
      }
    }
  };
  await walk('', 0);
  return { blueprints: found, truncated };
}
