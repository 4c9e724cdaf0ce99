import { useEffect, useState } from 'preact/hooks';
import { api, type Bot } from './api/client';
import { socket, type FleetEvent, type FleetFigures } from './api/socket';

export interface Row extends Bot {
  /** When the figures were read (uptime counts on from there). */
  readAt: number;
  /** Incidents that arrived since the bot was read, added to its open_incidents. */
  incidentsSeen: number;
  /** When the row last changed by an event (for the row's highlight and the benchmark). */
  changedAt: number;
}

type Listener = () => void;

/**
 * The fleet as the console shows it: read once in pages, then kept current by
 * the socket: events (status changes, incidents and deletions as they are
 * recorded) and the running bots' figures at each sample interval. Events
 * that arrive while the list is being read are applied after it.
 */
class FleetStore {
  rows = new Map<string, Row>();
  loaded = false;
  error: string | null = null;
  version = 0;
  private lastSeq = new Map<string, number>();
  private pending: FleetEvent[] = [];
  private listeners = new Set<Listener>();
  private off: (() => void) | null = null;

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  start(): void {
    this.off ??= socket.on((m) => {
      if (m.type === 'figures') {
        if (this.loaded) this.applyFigures(m);
        return;
      }
      if (m.type !== 'event') return;
      if (!this.loaded) this.pending.push(m);
      else this.apply(m);
    });
    void this.load();
  }

  stop(): void {
    this.off?.();
    this.off = null;
    this.rows.clear();
    this.loaded = false;
  }

  async load(): Promise<void> {
    const rows = new Map<string, Row>();
    const limit = 1000;
    for (let offset = 0; ; offset += limit) {
      const { data, error } = await api.GET('/api/v1/bots', { params: { query: { limit, offset } } });
      if (!data) {
        this.error = (error as { detail?: string } | undefined)?.detail ?? 'The fleet could not be read.';
        this.changed();
        return;
      }
      const now = Date.now();
      for (const b of data.bots) rows.set(b.bot_id, { ...b, readAt: now, incidentsSeen: 0, changedAt: 0 });
      if (data.bots.length < limit) break;
    }
    this.rows = rows;
    this.loaded = true;
    this.error = null;
    for (const e of this.pending.splice(0)) this.apply(e);
    this.changed();
  }

  /** One bot read again (after an action, or an event about a bot the list has not seen). */
  async refresh(id: string): Promise<void> {
    const { data, response } = await api.GET('/api/v1/bots/{id}', { params: { path: { id } } });
    // The bot's own count includes the incidents seen so far.
    if (data) this.rows.set(id, { ...data, readAt: Date.now(), incidentsSeen: 0, changedAt: Date.now() });
    else if (response.status === 404) this.rows.delete(id);
    this.changed();
  }

  /** A bot this page deleted: its workflow said yes, and its record is gone. */
  remove(id: string): void {
    this.rows.delete(id);
    this.changed();
  }

  private apply(e: FleetEvent): void {
    if (e.kind === 'deleted') {
      // Its count ends: a bot created again under this id numbers its events from the start.
      this.lastSeq.delete(e.bot_id);
      return this.remove(e.bot_id);
    }
    // Each bot's events carry its workflow's sequence: a repeat (a retried publish) changes nothing.
    const last = this.lastSeq.get(e.bot_id) ?? -1;
    if (e.seq <= last) return;
    this.lastSeq.set(e.bot_id, e.seq);
    const row = this.rows.get(e.bot_id);
    if (!row) {
      void this.refresh(e.bot_id);
      return;
    }
    const now = Date.now();
    if (e.kind === 'status') {
      const instanceChanged = e.instance_id !== row.instance_id;
      this.rows.set(e.bot_id, {
        ...row,
        status: e.status as Row['status'],
        desired_state: e.desired_state as Row['desired_state'],
        status_reason: e.reason,
        restart_count: e.restart_count,
        instance_id: e.instance_id,
        changedAt: now,
        ...(instanceChanged ? { pid: null, uptime_seconds: e.instance_id ? 0 : null, readAt: now } : {}),
      });
      // A new instance: its pid and first figures come from the bot's own record.
      if (instanceChanged && e.instance_id) void this.refresh(e.bot_id);
      if (e.status === 'stopped' && e.desired_state === 'stopped' && e.previous === 'stopping' && !e.instance_id)
        this.rows.set(e.bot_id, { ...this.rows.get(e.bot_id)!, cpu_load: null, memory_usage_mb: null });
    } else {
      this.rows.set(e.bot_id, { ...row, incidentsSeen: row.incidentsSeen + 1, changedAt: now });
    }
    this.changed();
  }

  /** Figures of the current instances; a row on another instance waits for its own record. */
  private applyFigures(f: FleetFigures): void {
    const now = Date.now();
    let any = false;
    for (const b of f.bots) {
      const row = this.rows.get(b.bot_id);
      if (!row || row.instance_id !== b.instance_id) continue;
      this.rows.set(b.bot_id, {
        ...row,
        cpu_load: b.cpu_load,
        memory_usage_mb: b.memory_usage_mb,
        uptime_seconds: b.uptime_seconds,
        error_rate: b.error_rate,
        last_heartbeat_at: b.last_heartbeat_at,
        readAt: now,
      });
      any = true;
    }
    if (any) this.changed();
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

export const fleet = new FleetStore();

/** Re-renders on every change of the fleet; returns the store. */
export function useFleet(): FleetStore {
  const [, setVersion] = useState(fleet.version);
  useEffect(() => fleet.subscribe(() => setVersion(fleet.version)), []);
  return fleet;
}
