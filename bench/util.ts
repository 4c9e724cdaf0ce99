export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export { freePort } from '../lib/scratch.js';

/** A wall-clock budget: every benchmark loop checks one, so none can run unbounded. */
export class Deadline {
  private readonly end: number;
  constructor(
    readonly ms: number,
    private readonly what: string,
  ) {
    this.end = performance.now() + ms;
  }
  get expired(): boolean {
    return performance.now() > this.end;
  }
  get remainingMs(): number {
    return Math.max(0, this.end - performance.now());
  }
  check(detail = ''): void {
    if (this.expired) throw new Error(`${this.what}: gave up after ${this.ms} ms${detail ? ` (${detail})` : ''}`);
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once; stops early when the deadline passes. */
export async function pool(
  count: number,
  concurrency: number,
  deadline: Deadline,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < count && !deadline.expired) {
      const i = next++;
      await task(i);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return done;
}

/** The fields of a bot the benchmarks read. */
export interface BotBody {
  bot_id: string;
  status: string;
  status_reason: string | null;
  pid: number | null;
  instance_id: string | null;
  workflow_id: string;
}

export interface BotList {
  bots: BotBody[];
  total: number;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  bytes: number;
}

/** A small JSON client for the platform API; every request has a timeout. */
export class Api {
  private disabled = false;
  /** `headers` are the credentials sent with every request (X-API-Key or a bearer token). */
  constructor(
    readonly baseUrl: string,
    readonly headers: Record<string, string> = {},
  ) {}

  /** After an interrupt: the benchmark loops must stop talking to the platform so that it can shut down. */
  disable(): void {
    this.disabled = true;
  }

  private url(path: string): string {
    if (this.disabled) throw new Error('interrupted');
    return this.baseUrl + path;
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
  ): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs), headers: { ...this.headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...this.headers, 'content-type': 'application/json' };
    }
    const res = await fetch(this.url(path), init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, bytes: Buffer.byteLength(text) };
  }

  /** GET without parsing: for load loops, where client-side JSON parsing would add to the latency measured. */
  async getRaw(path: string, timeoutMs = 30_000): Promise<{ status: number; bytes: number }> {
    const res = await fetch(this.url(path), { signal: AbortSignal.timeout(timeoutMs), headers: this.headers });
    const body = await res.arrayBuffer();
    return { status: res.status, bytes: body.byteLength };
  }

  /** Throws unless the status is one of `ok`. */
  async expect<T = unknown>(
    ok: number[],
    method: string,
    path: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<ApiResponse<T>> {
    const res = await this.request<T>(method, path, body, timeoutMs);
    if (!ok.includes(res.status)) {
      const detail = typeof res.body === 'object' && res.body !== null ? JSON.stringify(res.body) : String(res.body);
      throw new Error(`${method} ${path} answered ${res.status}: ${detail.slice(0, 500)}`);
    }
    return res;
  }

  /** A bot from a blueprint (local runtime) or an image (Kubernetes). */
  async registerBot(
    id: string,
    spec: ({ blueprint: string } | { image: string }) & {
      role?: string;
      env?: Record<string, string>;
      heal_policy?: Record<string, number>;
      resources?: Record<string, number>;
    },
  ): Promise<void> {
    await this.expect([201], 'POST', '/api/v1/bots', { id, name: `Bench ${id}`, ...spec });
  }

  /** Polls GET /api/v1/bots/{id} until its status is `status`; a failed bot is an error. */
  async waitStatus(id: string, status: string, intervalMs: number, deadline: Deadline): Promise<BotBody> {
    for (;;) {
      const res = await this.expect<BotBody>([200], 'GET', `/api/v1/bots/${id}`);
      if (res.body.status === status) return res.body;
      if (res.body.status === 'failed') throw new Error(`bot ${id} failed: ${res.body.status_reason}`);
      deadline.check(`bot ${id} is ${res.body.status}, waiting for ${status}`);
      await sleep(intervalMs);
    }
  }
}
