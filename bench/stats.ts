/** Percentiles and plain-text tables for the benchmarks. */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile (no interpolation): p99 of 50 samples is the 50th smallest. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

export const round = (n: number, digits = 1): number =>
  Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n;

/** A summary with every figure rounded, for the JSON line. */
export function rounded(s: Summary, digits = 1): Summary {
  return {
    n: s.n,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p90: round(s.p90, digits),
    p99: round(s.p99, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits),
  };
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');

export function heading(title: string): void {
  console.log(`\n== ${title} ==`);
}

/** One table: a header line and a line per summary, figures in milliseconds. */
export function printSummaryTable(rows: Array<[label: string, summary: Summary]>): void {
  const width = Math.max(36, ...rows.map(([label]) => label.length + 2));
  const cols = ['n', 'min', 'p50', 'p90', 'p99', 'max', 'mean'];
  console.log(`${'(ms)'.padEnd(width)}${cols.map((c) => c.padStart(9)).join('')}`);
  for (const [label, s] of rows) {
    const cells = [String(s.n), fmt(s.min), fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max), fmt(s.mean)];
    console.log(`${label.padEnd(width)}${cells.map((c) => c.padStart(9)).join('')}`);
  }
}

/** "label ....... value" lines. */
export function printFigures(rows: Array<[label: string, value: string]>): void {
  const width = Math.max(36, ...rows.map(([label]) => label.length + 2));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}${value}`);
}

export interface TargetResult {
  name: string;
  value: number;
  limit: number;
  unit: string;
  pass: boolean;
}

/** Checks value <= limit and prints one line; NaN (not measured) is a miss. */
export function checkTarget(name: string, value: number, limit: number, unit: string, digits = 1): TargetResult {
  const pass = Number.isFinite(value) && value <= limit;
  console.log(
    `target ${name} <= ${limit} ${unit}: ${Number.isFinite(value) ? value.toFixed(digits) : '-'} ${unit}  ${pass ? 'PASS' : 'MISS'}`,
  );
  return { name, value: round(value, digits), limit, unit, pass };
}

export const mib = (bytes: number): number => round(bytes / (1024 * 1024));
