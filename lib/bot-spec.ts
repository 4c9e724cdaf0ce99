import { z } from '@hono/zod-openapi';
import { BOT_STATUSES, DEFAULT_HEAL_POLICY, DEFAULT_HEALTH_THRESHOLDS, DESIRED_STATES } from './bot-status.js';
import { nameProblem } from './safe-text.js';

/**
 * The one schema of a bot: request validation, TypeScript types and the
 * OpenAPI document all come from here.
 */

/** A name people read (a bot's, a key's, a deployment's ref): printable text, without control characters or bidirectional overrides. */
export function plainName(max: number) {
  return z
    .string()
    .trim()
    .min(1, 'cannot be empty')
    .max(max)
    .superRefine((name, ctx) => {
      const problem = nameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

export const BOT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])$/;

export const botIdSchema = z
  .string()
  .min(2, 'id must be 2 to 63 characters')
  .max(63, 'id must be 2 to 63 characters')
  .regex(
    BOT_ID_PATTERN,
    'id must be a lowercase slug: letters a-z, digits and "-", starting and ending with a letter or digit (e.g. "analytics-v1")',
  )
  .openapi({
    example: 'analytics-v1',
    description: 'Lowercase slug, 2-63 characters; also the Kubernetes name of the bot.',
  });

/** Environment names: upper case, digits and "_", as POSIX utilities use them. */
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Names that change how an interpreter, the shell or the dynamic loader runs
 * a bot (they load code from elsewhere, or change which program runs), so a
 * bot's env cannot set them: refused by name, or by prefix for the families
 * (`LD_AUDIT`, `DYLD_INSERT_LIBRARIES`, ...). CODEX32_* names are the
 * platform's own. SECURITY.md and the README list the same.
 */
export const FORBIDDEN_ENV_NAMES = [
  'NODE_OPTIONS',
  'NODE_PATH',
  'PATH',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONINSPECT',
  'PYTHONBREAKPOINT',
  'PYTHONUSERBASE',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'MALLOC_TRACE',
  'IFS',
] as const;
export const FORBIDDEN_ENV_PREFIXES = ['LD_', 'DYLD_', 'CODEX32_'] as const;

const forbidden = new Set<string>(FORBIDDEN_ENV_NAMES);
/** Keys that name a property of every JavaScript object: taken as keys, they would change the object instead of adding to it. */
const OBJECT_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Names a bot's environment never carries, whatever the registry holds (a row written by an older release may have one). */
export function isForbiddenEnvName(name: string): boolean {
  return OBJECT_KEYS.has(name) || forbidden.has(name) || FORBIDDEN_ENV_PREFIXES.some((p) => name.startsWith(p));
}

/** Why `name` cannot be set in a bot's environment, or null. */
export function envNameProblem(name: string): string | null {
  if (name.length > 128) return 'an environment name is at most 128 characters';
  if (OBJECT_KEYS.has(name))
    return `"${name}" is not allowed: it names a property of every JavaScript object, not a variable`;
  if (!ENV_NAME.test(name))
    return `"${name}" is not an environment name: upper-case letters, digits and "_", not starting with a digit (e.g. LOG_LEVEL)`;
  if (name.startsWith('CODEX32_')) return `"${name}": names starting with CODEX32_ are reserved for the platform`;
  if (forbidden.has(name) || FORBIDDEN_ENV_PREFIXES.some((p) => name.startsWith(p))) {
    return `"${name}" cannot be set: it changes how the interpreter or the loader runs the bot (see "Bot environment" in SECURITY.md for the list)`;
  }
  return null;
}

// The names are checked as keys, on the object as sent: a "__proto__" key would be gone from the parsed record.
const envNameSchema = z.string().superRefine((name, ctx) => {
  const problem = envNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const envSchema = z
  .record(envNameSchema, z.string().max(32 * 1024, 'an environment value is at most 32 KiB'))
  .refine((env) => Object.keys(env).length <= 100, 'at most 100 environment variables')
  .openapi({
    description: `Environment for the bot. Write-only: responses show the names, never the values. Names are upper case (A-Z, 0-9, "_"); these are refused because they change how an interpreter or the loader runs: ${FORBIDDEN_ENV_NAMES.join(', ')}, and any name starting with ${FORBIDDEN_ENV_PREFIXES.join(', ')}.`,
    example: { LOG_LEVEL: 'info' },
  });

export const argsSchema = z
  .array(
    z
      .string()
      .max(4096, 'an argument is at most 4096 characters')
      .refine((a) => !a.includes('\0'), 'arguments cannot contain NUL bytes'),
  )
  .max(64, 'at most 64 arguments')
  .openapi({ example: ['--interval', '5'] });

export const resourcesSchema = z
  .strictObject({
    memory_limit_mb: z.number().int().min(16).max(1_048_576).optional().openapi({ example: 256 }),
    cpu_limit: z.number().min(0.01).max(256).optional().openapi({ example: 0.5, description: 'CPU cores' }),
  })
  .openapi('Resources');

export const healPolicySchema = z
  .strictObject({
    max_restarts: z.number().int().min(0).max(1000).default(DEFAULT_HEAL_POLICY.max_restarts),
    window_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86400)
      .default(DEFAULT_HEAL_POLICY.window_seconds),
    backoff_initial_seconds: z.number().min(0).max(3600).default(DEFAULT_HEAL_POLICY.backoff_initial_seconds),
    backoff_max_seconds: z.number().min(0).max(86400).default(DEFAULT_HEAL_POLICY.backoff_max_seconds),
    backoff_factor: z.number().min(1).max(10).default(DEFAULT_HEAL_POLICY.backoff_factor),
    reset_after_seconds: z.number().min(0).max(86400).default(DEFAULT_HEAL_POLICY.reset_after_seconds),
    backoff_jitter: z
      .number()
      .min(0)
      .max(0.5)
      .default(DEFAULT_HEAL_POLICY.backoff_jitter!)
      .openapi({ description: 'Each delay moves randomly by up to this fraction either way (0 for exact delays)' }),
  })
  .refine((p) => p.backoff_max_seconds >= p.backoff_initial_seconds, {
    message: 'backoff_max_seconds must be at least backoff_initial_seconds',
    path: ['backoff_max_seconds'],
  })
  .openapi('HealPolicy', {
    description: `Restart with exponential backoff; after max_restarts restarts within window_seconds the bot is failed and stays down until an operator starts it. Defaults: ${JSON.stringify(DEFAULT_HEAL_POLICY)}`,
  });

const T = DEFAULT_HEALTH_THRESHOLDS;
export const healthRulesSchema = z
  .strictObject({
    error_rate_threshold: z.number().min(0).max(1).default(T.error_rate_threshold).openapi({
      description:
        'Degraded while the error rate of its latest heartbeat (errors / requests) is over this fraction; 1 turns the rule off',
    }),
    cpu_pegged_percent: z.number().min(1).max(100).default(T.cpu_pegged_percent).openapi({
      description: 'Percent of its resources.cpu_limit (of one core without a limit) that counts as pegged',
    }),
    cpu_pegged_seconds: z.number().int().min(1).max(86400).default(T.cpu_pegged_seconds).openapi({
      description: 'Degraded after this long at or over cpu_pegged_percent; running again after as long under it',
    }),
  })
  .openapi('HealthRules', {
    description: `When a running bot counts as degraded: it keeps running, its status and an incident say why, and both clear when it recovers. Defaults: ${JSON.stringify(T)}`,
  });

const blueprintSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'blueprint cannot contain NUL bytes')
  .refine(
    (p) => !/%[0-9a-fA-F]{2}/.test(p),
    'blueprint must be a plain path: percent-encoded sequences are not decoded, write the characters themselves',
  )
  .openapi({
    example: 'analytics_bot.py',
    description:
      'Path of a runnable file inside BOTS_DIR (relative to it). .py runs with python3, .js/.mjs with node, .sh with sh; any other file must be executable.',
  });

const imageSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/i, 'image must be a container image reference such as "ghcr.io/acme/bot:1.2"')
  .openapi({ example: 'ghcr.io/acme/analytics-bot:1.0', description: 'Container image (Kubernetes runtime).' });

const specFields = {
  name: plainName(100).openapi({ example: 'Analytics bot' }),
  description: z.string().max(2000).default('').openapi({ example: 'Computes fleet statistics every few seconds' }),
  role: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'role is a lowercase word such as "analytics" or "ingest"')
    .default('general')
    .openapi({ example: 'analytics' }),
  blueprint: blueprintSchema.optional(),
  image: imageSchema.optional(),
  args: argsSchema.default([]),
  env: envSchema.default({}),
  resources: resourcesSchema.default({}),
  heal_policy: healPolicySchema.prefault({}),
  health_rules: healthRulesSchema.prefault({}),
  heartbeat_interval_seconds: z.number().int().min(1).max(3600).optional().openapi({ example: 10 }),
};

const exactlyOneSource = (b: { blueprint?: string | undefined; image?: string | undefined }) =>
  (b.blueprint === undefined) !== (b.image === undefined);
const sourceMessage = {
  message:
    'give exactly one of "blueprint" (a script under the bots directory) or "image" (a container image for Kubernetes)',
  path: ['blueprint'],
};

export const createBotSchema = z
  .strictObject({ id: botIdSchema, ...specFields })
  .refine(exactlyOneSource, sourceMessage)
  .openapi('CreateBot');
export type CreateBot = z.infer<typeof createBotSchema>;

/** PATCH: any spec field but the id; giving blueprint clears image and the reverse. */
export const updateBotSchema = z
  .strictObject({
    name: specFields.name.optional(),
    description: z.string().max(2000).optional(),
    role: specFields.role.unwrap().optional(),
    blueprint: blueprintSchema.nullable().optional(),
    image: imageSchema.nullable().optional(),
    args: argsSchema.optional(),
    env: envSchema.optional(),
    resources: resourcesSchema.optional(),
    heal_policy: healPolicySchema.optional(),
    health_rules: healthRulesSchema.optional(),
    heartbeat_interval_seconds: z.number().int().min(1).max(3600).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'the body must change at least one field')
  .refine((b) => !(typeof b.blueprint === 'string' && typeof b.image === 'string'), sourceMessage)
  .openapi('UpdateBot');
export type UpdateBot = z.infer<typeof updateBotSchema>;

export const botStatusSchema = z.enum(BOT_STATUSES).openapi('BotStatus');
export const desiredStateSchema = z.enum(DESIRED_STATES).openapi('DesiredState');

export const botSchema = z
  .object({
    bot_id: z.string(),
    name: z.string(),
    description: z.string(),
    role: z.string(),
    blueprint: z.string().nullable(),
    image: z.string().nullable(),
    artifact: z
      .string()
      .nullable()
      .openapi({ description: 'An uploaded build (sha256:…) it runs, instead of a blueprint (local runtime)' }),
    entrypoint: z.string().nullable().openapi({ description: 'The file of the artifact that runs' }),
    args: z.array(z.string()),
    env: z.array(z.string()).openapi({ description: 'Names of the environment variables; values are write-only.' }),
    resources: resourcesSchema,
    heal_policy: z.object({
      max_restarts: z.number(),
      window_seconds: z.number(),
      backoff_initial_seconds: z.number(),
      backoff_max_seconds: z.number(),
      backoff_factor: z.number(),
      reset_after_seconds: z.number(),
      backoff_jitter: z.number(),
    }),
    health_rules: z.object({
      error_rate_threshold: z.number(),
      cpu_pegged_percent: z.number(),
      cpu_pegged_seconds: z.number(),
    }),
    heartbeat_interval_seconds: z.number().nullable(),
    status: botStatusSchema,
    desired_state: desiredStateSchema,
    status_reason: z.string().nullable(),
    restart_count: z.number().int(),
    pid: z.number().int().nullable(),
    instance_id: z.string().nullable(),
    uptime_seconds: z.number().nullable(),
    cpu_load: z.number().nullable().openapi({
      description:
        "CPU use in percent of one core between the worker's two latest samples (at launch: since the process started)",
    }),
    memory_usage_mb: z.number().nullable(),
    error_rate: z.number().nullable(),
    last_heartbeat_at: z
      .string()
      .datetime()
      .nullable()
      .openapi({ description: "The running instance's latest heartbeat (the SDK's); null before its first" }),
    open_incidents: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Incidents not resolved yet; null for callers without incidents:read' }),
    revision: z.number().int().openapi({
      description: 'The revision of its runnable spec it has now (GET /api/v1/bots/{id}/revisions)',
    }),
    workflow_id: z.string(),
    created_at: z.string().datetime(),
    last_updated: z.string().datetime(),
  })
  .openapi('Bot');
export type BotView = z.infer<typeof botSchema>;
