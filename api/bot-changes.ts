import path from 'node:path';
import type { Kysely } from 'kysely';
import { BlueprintError, resolveBlueprint, runsWithInterpreter } from '../runtime/blueprint.js';
import { findArtifact } from '../registry/artifacts.js';
import type { Database } from '../registry/database.js';
import type { UpdateBot } from '../lib/bot-spec.js';
import type { BotRow, BotUpdate } from '../registry/database.js';
import { ApiError } from './views/problem.js';

/** The blueprint as the registry stores it (relative to the bots directory), or 422 saying what is wrong with it. */
export async function checkBlueprint(botsDir: string, blueprint: string): Promise<string> {
  try {
    return (await resolveBlueprint(botsDir, blueprint)).relative;
  } catch (err) {
    if (err instanceof BlueprintError) {
      throw new ApiError(422, 'validation', 'Invalid blueprint', `${err.message}. Nothing was changed.`, [
        { path: 'blueprint', message: err.message },
      ]);
    }
    throw err;
  }
}

const SPEC_JSON_COLUMNS = ['args', 'env', 'resources', 'heal_policy', 'health_rules'] as const;
type SpecJsonColumn = (typeof SPEC_JSON_COLUMNS)[number];

/** Those of the spec's JSON columns that `spec` gives, as the registry stores them (text): for a new bot and for a change alike. */
export function specJsonColumns(
  spec: Partial<Record<SpecJsonColumn, unknown>>,
): Partial<Record<SpecJsonColumn, string>> {
  return Object.fromEntries(
    SPEC_JSON_COLUMNS.filter((c) => spec[c] !== undefined).map((c) => [c, JSON.stringify(spec[c])]),
  );
}

/**
 * The registry update for a spec change (PATCH of a bot, or a deployment):
 * giving a blueprint clears the image and the reverse, and the bot must be
 * left with exactly one of them.
 */
export async function specChanges(patch: Partial<UpdateBot>, current: BotRow, botsDir: string): Promise<BotUpdate> {
  const changes: BotUpdate = { ...specJsonColumns(patch) };
  if (patch.name !== undefined) changes.name = patch.name;
  if (patch.description !== undefined) changes.description = patch.description;
  if (patch.role !== undefined) changes.role = patch.role;
  if (patch.heartbeat_interval_seconds !== undefined)
    changes.heartbeat_interval_seconds = patch.heartbeat_interval_seconds;
  if (typeof patch.blueprint === 'string') {
    changes.blueprint = await checkBlueprint(botsDir, patch.blueprint);
    changes.image = null;
  } else if (typeof patch.image === 'string') {
    changes.image = patch.image;
    changes.blueprint = null;
  }
  const blueprint =
    changes.blueprint !== undefined ? changes.blueprint : patch.blueprint === null ? null : current.blueprint;
  const image = changes.image !== undefined ? changes.image : patch.image === null ? null : current.image;
  if ((blueprint === null) === (image === null)) {
    throw new ApiError(
      422,
      'validation',
      'Invalid request',
      'A bot needs exactly one of "blueprint" or "image"; this change would leave it with none. Nothing was changed.',
      [{ path: 'blueprint', message: 'exactly one of blueprint or image' }],
    );
  }
  return changes;
}

/** 409 when the bot cannot run on this platform's runtime (an image needs Kubernetes; an artifact, local processes). */
export function checkRuntimeFits(
  bot: Pick<BotRow, 'id' | 'image'> & { artifact?: string | null },
  runtime: 'local' | 'kubernetes',
): void {
  if (bot.artifact && runtime === 'kubernetes') {
    throw new ApiError(
      409,
      'conflict',
      'Runtime mismatch',
      `Bot ${bot.id} would run an uploaded artifact, which runs as a local process; this platform runs bots on Kubernetes (BOT_RUNTIME=kubernetes). Build a container image and deploy "image" instead.`,
    );
  }
  if (bot.image && runtime === 'local') {
    throw new ApiError(
      409,
      'conflict',
      'Runtime mismatch',
      `Bot ${bot.id} runs a container image, which needs BOT_RUNTIME=kubernetes; this platform runs local processes. Give it a blueprint instead, or run Codex-32 on Kubernetes.`,
    );
  }
}

/**
 * An uploaded artifact and the file of it that runs, as the registry stores
 * them (the entrypoint normalised), or 422 saying what is wrong: the same
 * rules as a blueprint, inside the artifact instead of BOTS_DIR.
 */
export async function checkArtifact(
  db: Kysely<Database>,
  botId: string,
  digest: string,
  entrypoint: string,
): Promise<{ artifact: string; entrypoint: string }> {
  const invalid = (field: string, message: string) =>
    new ApiError(422, 'validation', 'Invalid artifact', `${message}. Nothing was deployed.`, [
      { path: field, message },
    ]);
  const found = await findArtifact(db, digest);
  if (!found)
    throw invalid(
      'artifact',
      `artifact ${digest} has not been uploaded; upload the build with PUT /api/v1/bots/${botId}/artifacts and deploy the digest it answers`,
    );
  const normal = path.posix.normalize(entrypoint.replace(/^\.\//, ''));
  if (path.posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../'))
    throw invalid('entrypoint', `entrypoint "${entrypoint}" points outside the artifact; give a path inside it`);
  const entry = found.files.find((f) => f.path === normal);
  if (!entry)
    throw invalid(
      'entrypoint',
      `entrypoint "${entrypoint}" is not in artifact ${digest} (it has ${found.files
        .filter((f) => f.type === 'file')
        .slice(0, 5)
        .map((f) => f.path)
        .join(', ')}${found.files.length > 5 ? ', ...' : ''})`,
    );
  if (entry.type !== 'file') throw invalid('entrypoint', `entrypoint "${entrypoint}" is a ${entry.type}, not a file`);
  if (!runsWithInterpreter(normal) && (entry.mode & 0o111) === 0)
    throw invalid(
      'entrypoint',
      `entrypoint "${entrypoint}" is not runnable: use a .py, .js, .mjs or .sh file, or pack it executable (chmod +x) with a #! line`,
    );
  return { artifact: digest, entrypoint: normal };
}
