const r1 = (n: number) => Math.round(n * 10) / 10;

/** A span of seconds for people: "42s", "17 min", "5.5 h", "3.2 days". */
export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${r1(seconds / 3600)} h`;
  return `${r1(seconds / 86_400)} days`;
}
