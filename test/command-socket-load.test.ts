import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

const CLIENTS = 200;
const BOTS = 4;
const DRIVE_MS = 60_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * What one client saw of one bot, in constant space (200 clients keep
 * thousands of events between them): the seqs must run on without a gap, and
 * the digest of everything seen must be the same for every client. A client
 * whose role may not read incidents gets the status changes alone: the
 * same ones as everybody, and not one incident.
 */
interface Seen {
  first: number;
  last: number;
  count: number;
  gaps: string[];
  digest: ReturnType<typeof createHash>;
  statusDigest: ReturnType<typeof createHash>;
  statuses: number;
  incidents: number;
  lastStatus: string | null;
}

/** A real WebSocket client that keeps only what the check needs. */
class Subscriber {
  readonly seen = new Map<string, Seen>();
  replies = 0;
  errors: string[] = [];
  closed: number | null = null;

  private constructor(
    readonly ws: WebSocket,
    readonly readsIncidents: boolean,
  ) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse((data as Buffer).toString('utf8')) as {
        type: string;
        text?: string;
        bot_id?: string;
        seq?: number;
        kind?: string;
        status?: string;
      };
      if (frame.type === 'reply') this.replies++;
      else if (frame.type === 'error') this.errors.push(frame.text ?? '');
      else if (frame.type === 'event') this.event(frame as Required<typeof frame>);
    });
    ws.on('close', (code) => (this.closed = code));
  }

  static open(url: string, token: string, readsIncidents: boolean): Promise<Subscriber> {
    return new Promise((resolve, reject) => {
      // Half of the clients give the token as a subprotocol, half in the query.
      const ws = Math.random() < 0.5 ? new WebSocket(`${url}?token=${token}`) : new WebSocket(url, ['codex32', token]);
      const s = new Subscriber(ws, readsIncidents);
      ws.once('open', () => resolve(s));
      ws.once('error', reject);
    });
  }

  private event(e: { bot_id: string; seq: number; kind: string; status: string }): void {
    let s = this.seen.get(e.bot_id);
    if (!s) {
      s = {
        first: e.seq,
        last: e.seq - 1,
        count: 0,
        gaps: [],
        digest: createHash('sha256'),
        statusDigest: createHash('sha256'),
        statuses: 0,
        incidents: 0,
        lastStatus: null,
      };
      this.seen.set(e.bot_id, s);
    }
    if (e.seq !== s.last + 1 && s.gaps.length < 5) s.gaps.push(`${s.last} → ${e.seq}`);
    s.last = e.seq;
    s.count++;
    s.digest.update(`${e.seq}:${e.kind}:${e.status ?? ''};`);
    if (e.kind === 'status') {
      s.lastStatus = e.status;
      s.statuses++;
      s.statusDigest.update(`${e.seq}:${e.status};`);
    } else {
      s.incidents++;
    }
  }
}

describe('the command socket under load: 200 clients while bots change state', () => {
  let t: TestPlatform;
  const bots: string[] = [];
  const clients: Subscriber[] = [];

  beforeAll(async () => {
    // Through Redis, as API replicas deliver events in production.
    t = await startTestPlatform('postgres', {
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'error',
    });
    for (let i = 0; i < BOTS; i++) {
      const id = t.uniqueId('load');
      await t.request('POST', '/api/v1/bots', {
        id,
        name: `Load ${i}`,
        blueprint: 'sleeper.mjs',
        heal_policy: { max_restarts: 1000, window_seconds: 60, backoff_initial_seconds: 0.2, backoff_max_seconds: 0.2 },
      });
      bots.push(id);
    }
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await t?.close();
  });

  it('delivers every event to every client in order, and memory stays flat', async () => {
    const tokens: string[] = [];
    for (const role of ['viewer', 'operator', 'user', 'admin']) {
      const username = `load-${role}`;
      const password = 'Many clients, one fleet 42!';
      await t.request('POST', '/api/v1/users', { username, password, role });
      tokens.push(
        (await t.anonymous('POST', '/api/v1/auth/login', { username, password })).body.access_token as string,
      );
    }
    const roles = ['viewer', 'operator', 'user', 'admin'] as const;
    const socketUrl = (k: number) => `${t.url.replace('http', 'ws')}/ws/command/load-${roles[k % 4]}`;
    for (let i = 0; i < CLIENTS; i += 20) {
      clients.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            Subscriber.open(socketUrl(i + j), tokens[(i + j) % 4]!, roles[(i + j) % 4] !== 'user'),
          ),
        )),
      );
    }
    for (const c of clients) c.ws.send(JSON.stringify({ type: 'subscribe', bots }));
    await waitFor(async () => clients.every((c) => c.replies >= 1), 'every subscription answered', 30_000);
    const before = new Map<string, number>();
    for (const id of bots) before.set(id, (await t.botState(id)).eventSeq);

    // Every bot goes round start → killed (an incident and a heal) → restart → stop, until the time is up.
    const heap: number[] = [];
    const sampleHeap = () => {
      gc();
      heap.push(process.memoryUsage().heapUsed);
    };
    sampleHeap();
    const sampler = setInterval(sampleHeap, 5_000);
    const until = Date.now() + DRIVE_MS;
    let rounds = 0;
    await Promise.all(
      bots.map(async (id) => {
        while (Date.now() < until) {
          expect((await t.request('POST', `/api/v1/bots/${id}/start`)).status).toBeLessThan(300);
          const running = await waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid);
          process.kill(running.pid, 'SIGKILL');
          const healed = await waitForBot(
            t,
            id,
            'healed',
            (b) => b.status === 'running' && b.pid && b.pid !== running.pid,
          );
          expect((await t.request('POST', `/api/v1/bots/${id}/restart`)).status).toBeLessThan(300);
          await waitForBot(
            t,
            id,
            'running after the restart',
            (b) => b.status === 'running' && b.pid && b.pid !== healed.pid,
          );
          expect((await t.request('POST', `/api/v1/bots/${id}/stop`)).status).toBeLessThan(300);
          await waitForBot(t, id, 'stopped', (b) => b.status === 'stopped');
          rounds++;
        }
      }),
    );
    clearInterval(sampler);

    // Every client has every event of every bot it may read: from the first after subscribing to the bot's latest,
    // without a gap, the same for all; a client that may not read incidents has every status change and no incident.
    for (const id of bots) {
      const latest = (await t.botState(id)).eventSeq;
      // The last event of a round is a status change (stopped), which every client receives.
      await waitFor(
        async () => clients.every((c) => (c.seen.get(id)?.last ?? 0) >= latest),
        `every client at ${id}'s event ${latest}`,
        10_000,
      );
      const reference = clients[0]!.seen.get(id)!;
      const digest = reference.digest.copy().digest('hex');
      const statusDigest = reference.statusDigest.copy().digest('hex');
      expect(reference.first, id).toBe(before.get(id)! + 1);
      expect(reference.last, id).toBe(latest);
      expect(reference.lastStatus, id).toBe('stopped');
      expect(reference.incidents, id).toBeGreaterThan(0);
      for (const c of clients) {
        const s = c.seen.get(id)!;
        expect(s.last, id).toBe(reference.last);
        expect([s.statuses, s.statusDigest.copy().digest('hex')], id).toEqual([reference.statuses, statusDigest]);
        if (c.readsIncidents) {
          expect(s.gaps, id).toEqual([]);
          expect([s.first, s.count], id).toEqual([reference.first, reference.count]);
          expect(s.digest.copy().digest('hex'), id).toBe(digest);
        } else {
          expect([s.incidents, s.count], id).toEqual([0, reference.statuses]);
        }
      }
    }
    expect(clients.every((c) => c.closed === null && c.errors.length === 0)).toBe(true);

    const events = bots.reduce((n, id) => n + clients[0]!.seen.get(id)!.count, 0);
    const mib = (b: number) => Math.round(b / 1048576);
    // Flat: the heap after the warm-up does not climb across the rest of the run (allowance for the worker's caches and GC noise).
    const settled = heap.slice(2);
    const firstHalf = Math.max(...settled.slice(0, settled.length >> 1));
    const lastHalf = Math.max(...settled.slice(settled.length >> 1));
    console.log(
      `load: ${CLIENTS} clients, ${BOTS} bots, ${rounds} rounds in ${DRIVE_MS / 1000} s, ${events} events each (${events * CLIENTS} delivered); heap after GC every 5 s (MiB): ${heap.map(mib).join(' ')}`,
    );
    expect(rounds).toBeGreaterThanOrEqual(BOTS * 2);
    expect(lastHalf - firstHalf).toBeLessThan(24 * 1048576);
  }, 180_000);
});
