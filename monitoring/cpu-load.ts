import type { InstanceStats } from '../runtime/types.js';

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * CPU load is a rate, so it needs two readings: the previous one per instance
 * is kept here (bounded by the number of running bots), and a first reading
 * reports the average since the process started.
 */
export class CpuLoadTracker {
  private readonly last = new Map<string, { cpuSeconds: number; at: number }>();

  load(instanceId: string, stats: InstanceStats, now = Date.now()): number {
    const prev = this.last.get(instanceId);
    this.last.set(instanceId, { cpuSeconds: stats.cpuSeconds, at: now });
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    const [cpu, since] =
      prev && now - prev.at >= 200
        ? [stats.cpuSeconds - prev.cpuSeconds, prev.at]
        : [stats.cpuSeconds, stats.startedAt.getTime()];
    const elapsed = (now - since) / 1000;
    return elapsed > 0 ? round((cpu / elapsed) * 100) : 0;
  }
}
