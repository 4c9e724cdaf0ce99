import { z } from '@hono/zod-openapi';
import { argsSchema, botIdSchema, envSchema, plainName, resourcesSchema, updateBotSchema } from '../../lib/bot-spec.js';
import { DEFAULT_HEALTH_GATE, DEPLOYMENT_PHASES, type HealthGate } from '../../lib/deployment-phases.js';
import { escapeForDisplay } from '../../lib/safe-text.js';
import type { DeploymentRow, RevisionSpec } from '../../registry/database.js';
import type { RevisionWithHealth } from '../../registry/revisions.js';
import { deploymentWorkflowId } from '../../workflows/deployment-messages.js';

/** The spec fields a deployment may change: what a build produces, not who the bot is. */
export const DEPLOYED_FIELDS = ['blueprint', 'image', 'artifact', 'entrypoint', 'args', 'env', 'resources'] as const;
export type DeployedField = (typeof DEPLOYED_FIELDS)[number];

export const deploymentPhaseSchema = z.enum(DEPLOYMENT_PHASES).openapi('DeploymentPhase');

export const healthGateSchema = z
  .strictObject({
    min_healthy_seconds: z.number().int().min(0).max(3600).default(DEFAULT_HEALTH_GATE.min_healthy_seconds).openapi({
      description: 'How long the new instance must stay up (running, not degraded, no exit) in a row',
    }),
    progress_deadline_seconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(DEFAULT_HEALTH_GATE.progress_deadline_seconds)
      .openapi({ description: 'By when it must have done so, from the moment the bot is asked to run it' }),
    max_error_rate: z.number().min(0).max(1).optional().openapi({
      description:
        "Highest errors / requests over the new instance's heartbeats; default: the bot's health_rules.error_rate_threshold",
    }),
  })
  .refine((g) => g.min_healthy_seconds < g.progress_deadline_seconds, {
    message: 'min_healthy_seconds must be less than progress_deadline_seconds',
    path: ['min_healthy_seconds'],
  })
  .openapi('HealthGate');

const ARTIFACT_DIGEST = /^sha256:[0-9a-f]{64}$/;
export const artifactDigestSchema = z
  .string()
  .regex(
    ARTIFACT_DIGEST,
    'artifact is the digest PUT /api/v1/bots/{id}/artifacts answered: "sha256:" and 64 hex digits',
  )
  .openapi({ example: `sha256:${'3f'.repeat(32)}` });

export const entrypointSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'entrypoint cannot contain NUL bytes')
  .openapi({ example: 'bot.py', description: 'The file inside the artifact that runs (as a blueprint does)' });

export const deploySchema = z
  .strictObject({
    bot_id: botIdSchema,
    ref: plainName(200).optional().openapi({
      example: 'v1.4.2+3f9c2ab',
      description: 'What is deployed: a commit, tag or build number, kept with the record',
    }),
    artifact: artifactDigestSchema.optional(),
    entrypoint: entrypointSchema.optional(),
    blueprint: updateBotSchema.shape.blueprint.unwrap().unwrap().optional(),
    image: updateBotSchema.shape.image.unwrap().unwrap().optional(),
    args: argsSchema.optional(),
    env: envSchema.optional(),
    resources: resourcesSchema.optional(),
    health_gate: healthGateSchema.optional(),
    auto_rollback: z.boolean().default(true).openapi({
      description: 'On a failed gate, deploy the latest healthy revision back (through the same gate)',
    }),
    start_if_stopped: z.boolean().default(true).openapi({
      description: 'Start a stopped bot on the new revision; false: only apply it (it runs at the next start)',
    }),
    supersede: z.boolean().default(false).openapi({
      description: "Take over from the bot's active deployment (it ends superseded) instead of a 409",
    }),
  })
  .refine((b) => [b.artifact, b.blueprint, b.image].filter((x) => x !== undefined).length <= 1, {
    message: 'give at most one of "artifact", "blueprint" or "image"',
    path: ['artifact'],
  })
  .refine((b) => (b.artifact === undefined) === (b.entrypoint === undefined), {
    message: '"artifact" and "entrypoint" go together: the build, and the file of it that runs',
    path: ['entrypoint'],
  })
  .openapi('Deploy', {
    description:
      'A new revision of the bot from the given fields (the rest keep their values), run through the health gate. Changing env or resources also needs bots:update (as PATCH does).',
  });
export type DeployRequestBody = z.infer<typeof deploySchema>;

const stepSchema = z.object({ phase: z.string(), at: z.string(), detail: z.string() }).openapi('DeploymentStep');

export const deploymentSchema = z
  .object({
    id: z.string(),
    bot_id: z.string(),
    ref: z.string().nullable(),
    phase: deploymentPhaseSchema,
    revision: z.number().int().nullable().openapi({ description: 'The revision this deployment runs' }),
    previous_revision: z.number().int().nullable().openapi({ description: 'What the bot ran before it' }),
    rollback_revision: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'The revision a rollback made (the spec of the latest healthy one), if it rolled back' }),
    changes: z.array(z.string()).openapi({ description: 'The spec fields this deployment changed' }),
    steps: z.array(stepSchema),
    outcome: z.string().nullable().openapi({
      description:
        'succeeded, applied_stopped, rolled_back, failed, superseded or cancelled once it has ended; null while it runs',
    }),
    reason: z.string().nullable().openapi({ description: 'Why it did not succeed' }),
    evidence: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'What the failed gate saw: the rule, exit code, the last log lines' }),
    health_gate: z.object({
      min_healthy_seconds: z.number(),
      progress_deadline_seconds: z.number(),
      max_error_rate: z.number().nullable(),
    }),
    auto_rollback: z.boolean(),
    start_if_stopped: z.boolean(),
    requested_by: z.string(),
    created_at: z.string().datetime(),
    finished_at: z.string().datetime().nullable(),
    workflow_id: z.string(),
  })
  .openapi('Deployment');
export type DeploymentView = z.infer<typeof deploymentSchema>;

export interface DeploymentSettings {
  health_gate: HealthGate;
  auto_rollback: boolean;
  start_if_stopped: boolean;
}

export function deploymentView(d: DeploymentRow): DeploymentView {
  const settings = d.settings as Partial<DeploymentSettings>;
  return {
    id: d.id,
    bot_id: d.bot_id,
    ref: d.ref === null ? null : escapeForDisplay(d.ref),
    phase: d.phase as DeploymentView['phase'],
    revision: d.revision,
    previous_revision: d.previous_revision,
    rollback_revision: d.rollback_revision,
    changes: d.changes,
    steps: d.steps,
    outcome: d.outcome,
    reason: d.reason,
    evidence: d.evidence,
    health_gate: { ...DEFAULT_HEALTH_GATE, ...settings.health_gate },
    auto_rollback: settings.auto_rollback ?? false,
    start_if_stopped: settings.start_if_stopped ?? true,
    requested_by: d.requested_by,
    created_at: d.created_at.toISOString(),
    finished_at: d.finished_at ? d.finished_at.toISOString() : null,
    workflow_id: deploymentWorkflowId(d.id),
  };
}

export const revisionSchema = z
  .object({
    revision: z.number().int(),
    spec: z.object({
      blueprint: z.string().nullable(),
      image: z.string().nullable(),
      artifact: z.string().nullable(),
      entrypoint: z.string().nullable(),
      args: z.array(z.string()),
      env: z.array(z.string()).openapi({ description: 'Names only: values are write-only' }),
      resources: resourcesSchema,
    }),
    source: z.enum(['create', 'patch', 'deployment', 'rollback']),
    deployment_id: z.string().nullable(),
    restores: z.number().int().nullable().openapi({ description: 'A rollback: the revision whose spec it runs again' }),
    healthy: z.boolean().openapi({
      description:
        'It passed a deployment gate, or ran healthy: up 10 s and then stopped on request, or up that long now',
    }),
    current: z.boolean().openapi({ description: 'The revision the bot has now' }),
    created_at: z.string().datetime(),
    created_by: z.string(),
  })
  .openapi('Revision');

export function specView(spec: RevisionSpec): z.infer<typeof revisionSchema>['spec'] {
  return { ...spec, env: Object.keys(spec.env).sort() };
}

export function revisionView(r: RevisionWithHealth, current: number): z.infer<typeof revisionSchema> {
  return {
    revision: r.revision,
    spec: specView(r.spec),
    source: r.source,
    deployment_id: r.deployment_id,
    restores: r.restores,
    healthy: r.healthy,
    current: r.revision === current,
    created_at: r.created_at.toISOString(),
    created_by: r.created_by,
  };
}

export const rollbackSchema = z
  .strictObject({
    revision: z.number().int().min(1).optional().openapi({
      description: 'The revision to go back to; default: the latest healthy one before the current',
    }),
    health_gate: healthGateSchema.optional(),
    supersede: z.boolean().default(false),
  })
  .openapi('Rollback');
