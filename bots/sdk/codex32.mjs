// Codex-32 bot SDK for Node (no dependencies). The platform gives every bot
// CODEX32_BOT_ID, CODEX32_API_URL and CODEX32_BOT_TOKEN; with them a bot can
// send heartbeats (with counters and gauges) and read what the platform knows
// about it. Outside the platform (no token) every call is a no-op that says so.
//
//   import { Codex32 } from './sdk/codex32.mjs';
//   const platform = new Codex32();
//   platform.startHeartbeats(() => ({ requests: handled, errors: failed, gauges: { queue: q.length } }));
//   const me = await platform.self();

export class Codex32 {
  constructor({
    apiUrl = process.env.CODEX32_API_URL,
    token = process.env.CODEX32_BOT_TOKEN,
    botId = process.env.CODEX32_BOT_ID,
  } = {}) {
    this.apiUrl = apiUrl?.replace(/\/$/, '');
    this.token = token;
    this.botId = botId;
    this.timer = undefined;
  }

  /** True when the platform runs this bot (the token and the API address are there). */
  get managed() {
    return Boolean(this.apiUrl && this.token);
  }

  async #call(method, path, body) {
    if (!this.managed) return null;
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const data = await res.json().catch(() => null);
    if (!res.ok)
      throw new Error(`Codex-32 answered ${res.status} to ${method} ${path}: ${data?.detail ?? res.statusText}`);
    return data;
  }

  /** One heartbeat; counters are what happened since the previous one. */
  heartbeat({ requests, errors, gauges } = {}) {
    return this.#call('POST', '/api/v1/self/heartbeat', { requests, errors, gauges });
  }

  /** This bot's config, status, recent figures, heartbeats and incidents, as the platform has them. */
  self() {
    return this.#call('GET', '/api/v1/self');
  }

  /**
   * Heartbeats every `intervalSeconds` (default: the bot's heartbeat_interval_seconds, else 10),
   * each with what `collect()` returns. A failed heartbeat is reported on stderr and retried next time.
   */
  startHeartbeats(collect = () => ({}), intervalSeconds) {
    if (!this.managed || this.timer) return;
    const beat = async () => {
      try {
        const answer = await this.heartbeat(await collect());
        return answer?.next_due_in_seconds;
      } catch (err) {
        console.error(`heartbeat failed: ${err.message}`);
        return undefined;
      }
    };
    void beat().then((due) => {
      const seconds = intervalSeconds ?? due ?? 10;
      this.timer = setInterval(beat, seconds * 1000);
      this.timer.unref?.();
    });
  }

  stopHeartbeats() {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
