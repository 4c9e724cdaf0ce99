import type { InstanceExit, InstanceRef, RuntimeEvent } from './types.js';

/** What both runtimes keep of an instance they watch: whether it is being stopped, its end once seen, and who waits for that. */
export interface WatchedInstance {
  stopping: boolean;
  exit?: InstanceExit;
  waiters: Array<(exit: InstanceExit) => void>;
}

/**
 * The instances a runtime watches, and their ends: each ends once, wakes
 * whoever waits for it, is reported to the listeners as an `exited` event,
 * and is kept a while after (for late questions, such as a stop that comes
 * after the exit) before it is forgotten. The one implementation of this
 * for the local and the Kubernetes runtimes.
 */
export class WatchedInstances<W extends WatchedInstance> {
  private readonly entries = new Map<string, W>();
  private readonly listeners = new Set<(event: RuntimeEvent) => void>();

  constructor(
    /** The instance an entry is about. */
    private readonly refOf: (entry: W) => InstanceRef,
    /** How long an ended instance is kept. */
    private readonly keepEndedMs: number,
  ) {}

  get(instanceId: string): W | undefined {
    return this.entries.get(instanceId);
  }

  /** Watches an instance (replacing what was kept of it). */
  add(entry: W): W {
    this.entries.set(this.refOf(entry).instanceId, entry);
    return entry;
  }

  delete(instanceId: string): void {
    this.entries.delete(instanceId);
  }

  /** Watched and not ended. */
  isWatching(instanceId: string): boolean {
    const entry = this.entries.get(instanceId);
    return entry !== undefined && !entry.exit;
  }

  /** Every instance not ended. */
  live(): W[] {
    return [...this.entries.values()].filter((entry) => !entry.exit);
  }

  all(): IterableIterator<W> {
    return this.entries.values();
  }

  /** Resolves with the instance's end (at once when it has ended). */
  ended(entry: W): Promise<InstanceExit> {
    return entry.exit ? Promise.resolve(entry.exit) : new Promise((resolve) => entry.waiters.push(resolve));
  }

  /**
   * The instance ended: recorded once (a later report of the same end is
   * ignored, and the first one returned), its waiters woken, and, unless
   * `report` is false (an end the runtime's own stop brought about and
   * answers for), the listeners told. Returns the end that counts.
   */
  finish(entry: W, exit: InstanceExit, { report = true }: { report?: boolean } = {}): InstanceExit {
    if (entry.exit) return entry.exit;
    entry.exit = exit;
    for (const waiter of entry.waiters.splice(0)) waiter(exit);
    const { botId, instanceId } = this.refOf(entry);
    if (report) {
      const event: RuntimeEvent = { type: 'exited', botId, instanceId, at: new Date().toISOString(), ...exit };
      for (const listener of this.listeners) listener(event);
    }
    setTimeout(() => {
      if (this.entries.get(instanceId) === entry) this.entries.delete(instanceId);
    }, this.keepEndedMs).unref();
    return exit;
  }

  onEvent(listener: (event: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clear(): void {
    this.entries.clear();
    this.listeners.clear();
  }
}
