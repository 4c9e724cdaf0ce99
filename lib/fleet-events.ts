import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { z } from '@hono/zod-openapi';
import type { fleetEventSchema } from './fleet-event-schema.js';
import type { Logger } from './logger.js';
import { RedisHealth } from './redis-health.js';

/** A status change or an incident of one bot (its schema, in fleet-event-schema.ts, says what each holds). */
export type FleetEvent = z.infer<typeof fleetEventSchema>;

/** The events a bot's workflow publishes, in `seq` order. */
export type SequencedEvent = Extract<FleetEvent, { seq: number }>;

/** A deployment's step as a fleet event: whoever records it (the API its first, the workflow the rest) publishes this. */
export function deploymentStepEvent(
  d: { id: string; bot_id: string; phase: string; revision: number | null; ref: string | null },
  step: { phase: string; at: string; detail: string },
): Extract<FleetEvent, { kind: 'deployment' }> {
  return {
    kind: 'deployment',
    bot_id: d.bot_id,
    deployment_id: d.id,
    phase: d.phase,
    revision: d.revision,
    ref: d.ref,
    step,
    at: step.at,
  };
}

export const FLEET_EVENT_KINDS = ['status', 'incident', 'deployment', 'deleted'] as const satisfies ReadonlyArray<
  FleetEvent['kind']
>;

export interface FleetEvents {
  publish(event: FleetEvent): Promise<void>;
  /** Every event, from every process (with Redis), in the order published. Returns the unsubscribe. */
  subscribe(listener: (event: FleetEvent) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'codex32:fleet-events';

/** Within one process: what `npm start` (API and worker together) needs without Redis. */
export class LocalFleetEvents implements FleetEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(event: FleetEvent): Promise<void> {
    this.emitter.emit('event', event);
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Through Redis pub/sub, so that every API replica hears every worker. One
 * subscriber connection per process, opened at the first subscription.
 * While Redis is down, events are delivered in this process only (and said
 * so in the log); pub/sub keeps no backlog, so subscribers elsewhere miss
 * them, and see the current state at their next status read.
 */
export class RedisFleetEvents implements FleetEvents {
  private readonly local = new LocalFleetEvents();
  private subscriber: Redis | null = null;
  private readonly health: RedisHealth;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    this.health = new RedisHealth(logger, {
      down: 'Redis is unavailable: fleet events reach only this process until it returns',
      back: 'Redis is back: fleet events reach every API process again',
    });
  }

  async publish(event: FleetEvent): Promise<void> {
    await this.health.attempt<unknown>(
      () => this.redis.publish(CHANNEL, JSON.stringify(event)),
      () => this.local.publish(event),
    );
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    if (!this.subscriber) {
      const sub = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      sub.on('error', () => undefined);
      sub.on('message', (_channel: string, message: string) => {
        try {
          void this.local.publish(JSON.parse(message) as FleetEvent);
        } catch (err) {
          this.logger.warn({ err }, 'a fleet event that is not JSON was ignored');
        }
      });
      // ioredis subscribes again by itself after a reconnect.
      sub
        .subscribe(CHANNEL)
        .catch((err: unknown) =>
          this.logger.warn({ err }, 'subscribing to fleet events failed; retrying when Redis is back'),
        );
      this.subscriber = sub;
    }
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.local.close();
    this.subscriber?.disconnect();
    this.subscriber = null;
  }
}

interface Held {
  event: SequencedEvent;
  timer: NodeJS.Timeout;
}

/**
 * Publishes each bot's events in `seq` order although the writes behind them
 * may finish out of order (the workflow runs some side by side). An event
 * waits for its predecessor at most `waitMs`: after a worker restart the
 * predecessor may have been published by another process.
 */
export class OrderedPublisher {
  private readonly last = new Map<string, number>();
  private readonly held = new Map<string, Map<number, Held>>();

  constructor(
    private readonly events: FleetEvents,
    private readonly onError: (err: unknown, event: SequencedEvent) => void,
    private readonly waitMs = 250,
  ) {}

  publish(event: SequencedEvent): void {
    const last = this.last.get(event.bot_id);
    if (last !== undefined && event.seq <= last) return; // a repeat (a retried write): already out
    if (last === undefined || event.seq === last + 1) return this.release(event);
    // Its predecessor is still being written: hold it, at most waitMs.
    let held = this.held.get(event.bot_id);
    if (!held) this.held.set(event.bot_id, (held = new Map<number, Held>()));
    if (held.has(event.seq)) return;
    const timer = setTimeout(() => {
      held.delete(event.seq);
      this.release(event);
    }, this.waitMs);
    timer.unref();
    held.set(event.seq, { event, timer });
  }

  private release(event: SequencedEvent): void {
    const last = this.last.get(event.bot_id);
    if (last !== undefined && event.seq <= last) return;
    this.last.set(event.bot_id, event.seq);
    if (this.last.size > 100_000) this.last.delete(this.last.keys().next().value!);
    this.events.publish(event).catch((err: unknown) => this.onError(err, event));
    // Whatever waited for this one goes out now, in order.
    const held = this.held.get(event.bot_id);
    const next = held?.get(event.seq + 1);
    if (held && next) {
      clearTimeout(next.timer);
      held.delete(event.seq + 1);
      if (held.size === 0) this.held.delete(event.bot_id);
      this.release(next.event);
    } else if (held?.size === 0) this.held.delete(event.bot_id);
  }
}
