import { constants } from 'node:fs';
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
