import { z } from '@hono/zod-openapi';
import { escapeForDisplay } from '../../lib/safe-text.js';
import type { IncidentRow } from '../../registry/database.js';

export const INCIDENT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export const INCIDENT_STATES = ['open', 'acknowledged', 'resolved'] as const;

export const incidentSchema = z
  .object({
    id: z.string(),
    bot_id: z.string(),
    instance_id: z.string().nullable(),
    kind: z
      .string()
      .openapi({ example: 'process_exited', description: 'process_exited, crash_loop, launch_failed, ...' }),
    severity: z.enum(INCIDENT_SEVERITIES),
    state: z.enum(INCIDENT_STATES),
    message: z.string(),
    evidence: z.record(z.string(), z.unknown()).openapi({
      description:
        'What the platform saw: exit code or signal, pid, run time, the last lines of the bot log, the metric that crossed its limit',
    }),
    outcome: z.string().nullable().openapi({ description: 'What the platform did about it' }),
    created_at: z.string().datetime(),
    acknowledged_at: z.string().datetime().nullable(),
    acknowledged_by: z.string().nullable(),
    resolved_at: z.string().datetime().nullable(),
    resolved_by: z.string().nullable(),
    resolution: z.string().nullable(),
  })
  .openapi('Incident');

const iso = (d: Date | null) => (d ? d.toISOString() : null);
export const incidentView = (r: IncidentRow): z.infer<typeof incidentSchema> => ({
  id: r.id,
  bot_id: r.bot_id,
  instance_id: r.instance_id,
  kind: r.kind,
  severity: r.severity,
  state: r.resolved_at ? 'resolved' : r.acknowledged_at ? 'acknowledged' : 'open',
  message: escapeForDisplay(r.message),
  evidence: r.evidence,
  outcome: r.outcome,
  created_at: r.created_at.toISOString(),
  acknowledged_at: iso(r.acknowledged_at),
  acknowledged_by: r.acknowledged_by,
  resolved_at: iso(r.resolved_at),
  resolved_by: r.resolved_by,
  resolution: r.resolution === null ? null : escapeForDisplay(r.resolution),
});
