import { z } from '@hono/zod-openapi';
import { botStatusSchema, desiredStateSchema } from './bot-spec.js';

/**
 * What happens to the fleet, as it happens: status changes and incidents,
 * each step of a deployment,
 * published by the worker right after it records them, and deletions,
 * published by the API once the bot's records are gone; delivered to every
 * API process (and from there to socket subscribers). `seq` counts per bot
 * from the bot's workflow, so a subscriber sees each bot's events in order
 * and can drop a repeat (a retried activity publishes again); a deletion
 * ends the count (a bot created again under the same id starts a new one).
 * In the OpenAPI document as FleetEvent: the command socket's clients are
 * typed from it.
 */
export const fleetEventSchema = z
  .discriminatedUnion('kind', [
    z.object({
      kind: z.literal('status'),
      bot_id: z.string(),
      seq: z.number().int(),
      status: botStatusSchema,
      previous: botStatusSchema.nullable(),
      desired_state: desiredStateSchema,
      reason: z.string().nullable(),
      restart_count: z.number().int(),
      instance_id: z.string().nullable(),
      at: z.string(),
    }),
    z.object({
      kind: z.literal('incident'),
      bot_id: z.string(),
      seq: z.number().int(),
      incident: z.object({
        id: z.string(),
        kind: z.string(),
        severity: z.string(),
        message: z.string(),
        outcome: z.string().nullable(),
        instance_id: z.string().nullable(),
      }),
      at: z.string(),
    }),
    z.object({
      kind: z.literal('deployment'),
      bot_id: z.string(),
      deployment_id: z.string(),
      phase: z.string().openapi({ description: 'The phase the deployment entered with this step' }),
      revision: z.number().int().nullable(),
      ref: z.string().nullable(),
      step: z.object({ phase: z.string(), at: z.string(), detail: z.string() }),
      at: z.string(),
    }),
    z.object({
      kind: z.literal('deleted'),
      bot_id: z.string(),
      at: z.string(),
    }),
  ])
  .openapi('FleetEvent');
