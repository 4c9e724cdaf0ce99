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
  private reading: Promise<Awaited<ReturnType<typeof readFleet>>> | null = null;
  /** When the rows' read started, and when the socket's subscription last took effect. */
  private readFrom = 0;
  private subscribedAt = 0;
  /** Bots removed since the last read: a read that started before must not bring them back. */
  private removedAt = new Map<string, number>();
  private listeners = new Set<Listener>();
  private off: (() => void) | null = null;

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  start(): void {
    this.off ??= socket.on((m) => {
      if (m.type === 'reply' && m.data && 'subscribed' in m.data) return this.subscribed();
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
    this.reading = null;
    this.subscribedAt = 0;
    this.rows.clear();
    this.loaded = false;
  }

  /** Starts reading the fleet ahead of start() (at sign-in, while the user's permissions are read). */
  prefetch(): void {
    this.reading ??= readFleet();
  }

  async load(): Promise<void> {
    const reading = (this.reading ??= readFleet());
    const read = await reading;
    if (this.reading === reading) this.reading = null;
    if ('error' in read) {
      this.error = read.error;
      this.changed();
      return;
    }
    this.rows = read.rows;
    this.readFrom = read.startedAt;
    this.loaded = true;
    this.error = null;
    for (const e of this.pending.splice(0)) this.apply(e);
    this.changed();
    if (this.subscribedAt > read.startedAt) void this.reconcile();
  }

  /**
   * The socket's subscription took effect (at sign-in, and again after each
   * reconnect): what changed between the fleet's read and now came as no
   * event, so the fleet is read again, keeping rows that events changed since.
   */
  private subscribed(): void {
    this.subscribedAt = Date.now();
    if (this.loaded && this.readFrom < this.subscribedAt) void this.reconcile();
  }

  private async reconcile(): Promise<void> {
    const read = await readFleet();
    if ('error' in read || !this.loaded) return;
    for (const [id, row] of this.rows) if (row.changedAt > read.startedAt) read.rows.set(id, row);
    for (const [id, at] of this.removedAt) if (at > read.startedAt) read.rows.delete(id);
    this.removedAt.clear();
    this.rows = read.rows;
    this.readFrom = read.startedAt;
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
    this.removedAt.set(id, Date.now());
    this.changed();
  }

  private apply(e: FleetEvent): void {
    if (e.kind === 'deleted') {
      // Its count ends: a bot created again under this id numbers its events from the start.
      this.lastSeq.delete(e.bot_id);
      return this.remove(e.bot_id);
    }
    // A deployment's steps show on the bot's page; the row changes with the statuses they cause.
    if (e.kind === 'deployment') return;
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
      const next = row && withFigures(row, b);
      if (!next || next === row) continue;
      this.rows.set(b.bot_id, { ...next, readAt: now });
      any = true;
    }
    if (any) this.changed();
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

/** A bot with one push's figures, when they are of its current instance (else unchanged). */
export function withFigures<B extends Bot>(bot: B, f: FleetFigures['bots'][number]): B {
  if (bot.instance_id !== f.instance_id) return bot;
  return {
    ...bot,
    cpu_load: f.cpu_load,
    memory_usage_mb: f.memory_usage_mb,
    uptime_seconds: f.uptime_seconds,
    error_rate: f.error_rate,
    last_heartbeat_at: f.last_heartbeat_at,
  };
}

const PAGE = 1000;

/**
 * Every bot, a page at a time, side by side: the first two pages at once
 * (a second page that turns out empty costs little), and then whatever
 * more the first page's total says there is.
 */
async function readFleet(): Promise<{ rows: Map<string, Row>; startedAt: number } | { error: string }> {
  const startedAt = Date.now();
  const page = (offset: number) => api.GET('/api/v1/bots', { params: { query: { limit: PAGE, offset } } });
  const second = page(PAGE);
  const first = await page(0);
  if (!first.data) return { error: problemOf(first.error) };
  const rest = [];
  for (let offset = 2 * PAGE; offset < first.data.total; offset += PAGE) rest.push(page(offset));
  const pages = [first, ...(await Promise.all([second, ...rest]))];
  const rows = new Map<string, Row>();
  const now = Date.now();
  for (const { data, error } of pages) {
    if (!data) return { error: problemOf(error) };
    for (const b of data.bots) rows.set(b.bot_id, { ...b, readAt: now, incidentsSeen: 0, changedAt: 0 });
  }
  return { rows, startedAt };
}

const problemOf = (error: unknown) =>
  (error as { detail?: string } | undefined)?.detail ?? 'The fleet could not be read.';

export const fleet = new FleetStore();

/** Re-renders on every change of the fleet; returns the store. */
export function useFleet(): FleetStore {
  const [, setVersion] = useState(fleet.version);
  useEffect(() => fleet.subscribe(() => setVersion(fleet.version)), []);
  return fleet;
}
