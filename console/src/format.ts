/** Figures as a person reads them; a dash where there is nothing to show. */
export const dash = '–';

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return dash;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function percent(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined ? dash : `${v.toFixed(digits)}%`;
}

export function megabytes(used: number | null | undefined, limit?: number | null): string {
  if (used === null || used === undefined) return dash;
  const u = used >= 100 ? used.toFixed(0) : used.toFixed(1);
  return limit ? `${u} / ${limit} MB (${Math.round((used / limit) * 100)}%)` : `${u} MB`;
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return dash;
  return `${duration((now - new Date(iso).getTime()) / 1000)} ago`;
}
