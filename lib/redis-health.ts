import type { Logger } from './logger.js';

/**
 * Whether a Redis-backed store is running on its in-process fallback, and the
 * one warning when it starts and the one notice when it ends (not one per
 * failed command). Each store says what the fallback means for it.
 */
export class RedisHealth {
  private degraded = false;

  constructor(
    private readonly logger: Logger,
    private readonly messages: { down: string; back: string },
  ) {}

  degrade(err: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.logger.warn({ err }, this.messages.down);
  }

  recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info(this.messages.back);
  }
}
