import type { Kysely } from 'kysely';
import { ACTIVE_STATUSES } from '../lib/bot-status.js';
import type { FleetFigures } from '../lib/fleet-figures-schema.js';
import type { Logger } from '../lib/logger.js';
import type { SampleStore } from '../monitoring/sample-store.js';
import { activeInstances } from '../registry/bots.js';
import type { Database } from '../registry/database.js';

type Listener = (figures: FleetFigures) => void;

/**
 * The running bots' figures, read once per sample interval for every socket
 * of this process that asked for them (one registry query and one sample
 * read, however many are listening), and only while someone is. Each push
 * holds the bots sampled since the previous one.
 */
export class FiguresFeed {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | null = null;
  /** When each bot's last pushed sample was taken: an unchanged sample is not pushed again. */
  private sent = new Map<string, number>();
  private reading = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly samples: SampleStore,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.close();
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sent.clear();
  }

  private async tick(): Promise<void> {
    // A slow read is not overtaken by the next one: that tick is skipped.
    if (this.reading) return;
    this.reading = true;
    try {
      const figures = await this.read();
      if (figures.bots.length === 0) return;
      for (const l of this.listeners) l(figures);
    } catch (err) {
      this.logger.warn({ err }, 'the fleet figures could not be read; trying again at the next interval');
    } finally {
      this.reading = false;
    }
  }

  private async read(): Promise<FleetFigures> {
    const active = await activeInstances(this.db, ACTIVE_STATUSES);
    const latest = active.length ? await this.samples.latest(active.map((a) => a.id)) : new Map();
    const sent = new Map<string, number>();
    const bots: FleetFigures['bots'] = [];
    for (const { id, instance_id } of active) {
      const s = latest.get(id);
      if (!s || s.instance_id !== instance_id) continue;
      sent.set(id, s.at);
      if (this.sent.get(id) === s.at) continue;
      const age = s.heartbeat_age_seconds;
      bots.push({
        bot_id: id,
        instance_id,
        cpu_load: s.cpu_load,
        memory_usage_mb: s.memory_usage_mb,
        uptime_seconds: s.uptime_seconds,
        error_rate: s.error_rate,
        last_heartbeat_at: age === null || age === undefined ? null : new Date(s.at - age * 1000).toISOString(),
        sampled_at: new Date(s.at).toISOString(),
      });
    }
    // Bots no longer running are forgotten: the map holds the running fleet only.
    this.sent = sent;
    return { at: new Date().toISOString(), bots };
  }
}
