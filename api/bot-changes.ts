import { BlueprintError, resolveBlueprint } from '../runtime/blueprint.js';
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

/** 409 when the bot cannot run on this platform's runtime (an image needs Kubernetes). */
export function checkRuntimeFits(bot: Pick<BotRow, 'id' | 'image'>, runtime: 'local' | 'kubernetes'): void {
  if (bot.image && runtime === 'local') {
    throw new ApiError(
      409,
      'conflict',
      'Runtime mismatch',
      `Bot ${bot.id} runs a container image, which needs BOT_RUNTIME=kubernetes; this platform runs local processes. Give it a blueprint instead, or run Codex-32 on Kubernetes.`,
    );
  }
}
