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

  /** `op` against Redis, or, when it fails, what `fallback` gives (the in-process store's answer; nothing for a write). */
  async attempt<T>(op: () => Promise<T>, fallback: () => T | Promise<T>): Promise<T> {
    try {
      const value = await op();
      this.recovered();
      return value;
    } catch (err) {
      this.degrade(err);
      return fallback();
    }
  }
}
