import WebSocket from 'ws';
import { waitFor } from './platform.js';

export type Frame = { type: string; text?: string; data?: any; action?: any; [k: string]: unknown };

/** A real WebSocket client that collects every frame it receives. */
export class Client {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  static open(url: string, protocols?: string[]): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
      );
      ws.once('error', reject);
    });
  }

  /** Sends, then waits for the next frame of one of `types`. */
  async ask(message: string | object, types = ['reply', 'confirm', 'error']): Promise<Frame> {
    const from = this.frames.length;
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    return this.next(from, types);
  }

  next(from: number, types: string[], timeoutMs = 15_000): Promise<Frame> {
    return waitFor(
      async () => this.frames.slice(from).find((f) => types.includes(f.type)),
      `a ${types.join('/')} frame`,
      timeoutMs,
      10,
    );
  }

  close(): void {
    this.ws.close();
  }
}

/** The HTTP status of a refused upgrade, or 'opened'. */
export const refusal = (p: Promise<Client>) =>
  p.then(
    () => 'opened',
    (err: { status?: number }) => err.status ?? 'error',
  );
