import { z } from '@hono/zod-openapi';

/**
 * The live figures of the fleet's running bots, pushed to socket subscribers
 * that asked for them ({"type":"subscribe","bots":"*","figures":true}) once
 * per sample interval: only the bots sampled since the previous push, each
 * from its current instance's latest sample. In the OpenAPI document as
 * FleetFigures, so the console is typed from it.
 */
export const fleetFiguresSchema = z
  .object({
    at: z.string().openapi({ description: 'When this push was read' }),
    bots: z.array(
      z.object({
        bot_id: z.string(),
        instance_id: z.string(),
        cpu_load: z.number().openapi({ description: 'Percent of one core' }),
        memory_usage_mb: z.number(),
        uptime_seconds: z.number(),
        error_rate: z.number().nullable(),
        last_heartbeat_at: z.string().nullable(),
        sampled_at: z.string(),
      }),
    ),
  })
  .openapi('FleetFigures');

export type FleetFigures = z.infer<typeof fleetFiguresSchema>;
