import { z } from '@hono/zod-openapi';
import { minuteHistory } from '../../registry/metrics.js';
import type { AppDeps } from '../deps.js';
import { ApiError } from './problem.js';

/** A time window in a query: a number and s, m, h or d. */
export const windowSchema = z
  .string()
  .regex(/^[1-9]\d{0,6}[smhd]$/, 'a window is a number and s, m, h or d, such as 15m or 2h')
  .refine((w) => windowMs(w) >= 10_000, 'the window is at least 10s')
  .default('15m');

export function windowMs(window: string): number {
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[window.at(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(window.slice(0, -1)) * unit;
}

export const historyPointSchema = z
  .object({
    at: z.string().datetime(),
    span_seconds: z.number().openapi({ description: 'What the point covers: one sample, or a minute of them' }),
    cpu_load: z.number().openapi({ description: 'Percent of one core (a minute: the average)' }),
    cpu_max: z.number(),
    memory_usage_mb: z.number().openapi({ description: 'Resident memory (a minute: the average)' }),
    memory_max_mb: z.number(),
    uptime_seconds: z.number(),
    error_rate: z
      .number()
      .nullable()
      .openapi({ description: 'From the bot’s heartbeats (a minute: the average); null when it reported no requests' }),
    error_rate_max: z.number().nullable(),
    heartbeat_age_seconds: z.number().nullable().openapi({
      description: 'Seconds since its latest heartbeat at the sample; null for minutes and before a first heartbeat',
    }),
  })
  .openapi('HistoryPoint');
export type HistoryPoint = z.infer<typeof historyPointSchema>;

/** The window in milliseconds, or 422 when it reaches past what is kept. */
export function windowWithinRetention(window: string, retentionDays: number): number {
  const ms = windowMs(window);
  if (ms > retentionDays * 86_400_000) {
    throw new ApiError(
      422,
      'validation',
      'Window too long',
      `Figures are kept ${retentionDays} days (BOT_METRICS_RETENTION_DAYS); ask for ${retentionDays}d or less.`,
      [{ path: 'window', message: `at most ${retentionDays}d` }],
    );
  }
  return ms;
}

/** Rollups for the part of the window before the recent samples begin, then the samples themselves. */
export async function botHistory(deps: AppDeps, botId: string, from: number): Promise<HistoryPoint[]> {
  const recent = await deps.samples.history(botId, from);
  const recentStart = recent[0]?.at ?? Number.POSITIVE_INFINITY;
  const minutes =
    recentStart - from > 60_000
      ? await minuteHistory(deps.db, botId, new Date(Math.floor(from / 60_000) * 60_000))
      : [];
  const round = (n: number) => Math.round(n * 10) / 10;
  const round3 = (n: number) => Math.round(n * 1000) / 1000;
  return [
    ...minutes
      .filter((m) => m.minute.getTime() + 60_000 <= recentStart)
      .map((m) => ({
        at: m.minute.toISOString(),
        span_seconds: 60,
        cpu_load: round(m.cpu_avg),
        cpu_max: round(m.cpu_max),
        memory_usage_mb: round(m.memory_avg_mb),
        memory_max_mb: round(m.memory_max_mb),
        uptime_seconds: m.uptime_seconds,
        error_rate: m.error_rate_avg === null ? null : round3(m.error_rate_avg),
        error_rate_max: m.error_rate_max,
        heartbeat_age_seconds: null,
      })),
    ...recent.map((s) => ({
      at: new Date(s.at).toISOString(),
      span_seconds: deps.config.BOT_SAMPLE_INTERVAL_SECONDS,
      cpu_load: s.cpu_load,
      cpu_max: s.cpu_load,
      memory_usage_mb: s.memory_usage_mb,
      memory_max_mb: s.memory_usage_mb,
      uptime_seconds: s.uptime_seconds,
      error_rate: s.error_rate,
      error_rate_max: s.error_rate,
      heartbeat_age_seconds: s.heartbeat_age_seconds ?? null,
    })),
  ];
}
