import http from 'node:http';

/**
 * A lean HTTP/1.1 GET client for load loops: node:http over keep-alive
 * sockets, the body drained and counted, never decoded. fetch (undici) costs
 * the benchmark process several times more CPU per request, and on a small
 * machine the client then falls behind its own schedule and measures itself.
 */
export class LeanClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly headers: Record<string, string> = {},
  ) {
    this.base = new URL(baseUrl);
  }

  get(path: string, timeoutMs = 10_000): Promise<{ status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method: 'GET',
          headers: this.headers,
          agent: this.agent,
          timeout: timeoutMs,
        },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
