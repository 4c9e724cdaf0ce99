import type { components } from './schema';
import { session } from './session';

/** A status change, an incident or a deletion, as the API's document describes it. */
export type FleetEvent = components['schemas']['FleetEvent'];
/** The running bots' figures, pushed at each sample interval. */
export type FleetFigures = components['schemas']['FleetFigures'];

export type ServerMessage =
  | ({ type: 'event' } & FleetEvent)
  | ({ type: 'figures' } & FleetFigures)
  | { type: 'reply'; text: string; data?: Record<string, unknown> }
  | { type: 'confirm'; text: string; action: { action: string; bot_id: string } }
  | { type: 'error'; text: string }
  | { type: 'transcript'; final: boolean; text: string }
  | { type: 'token_expiring'; expires_at: string; text: string }
  | { type: 'pong' };

type Listener = (m: ServerMessage) => void;
export type SocketState = 'connecting' | 'open' | 'closed';

/**
 * The command socket of the signed-in user: fleet events (subscribed to the
 * whole fleet), chat replies and transcripts. It reconnects with backoff, and
 * hands over each renewed access token so it is never closed for an expired one.
 */
export class CommandSocket {
  private ws: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(s: SocketState) => void>();
  private retryMs = 500;
  private stopped = false;
  private offToken: (() => void) | null = null;
  state: SocketState = 'closed';

  connect(): void {
    this.stopped = false;
    this.offToken ??= session.onToken((token) => this.sendJson({ type: 'token', token }));
    this.open();
  }

  close(): void {
    this.stopped = true;
    this.offToken?.();
    this.offToken = null;
    this.ws?.close(1000, 'signed out');
    this.ws = null;
  }

  on(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onState(l: (s: SocketState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  sendJson(message: Record<string, unknown>): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  sendAudio(pcm: ArrayBuffer): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(pcm);
  }

  private setState(s: SocketState): void {
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }

  private open(): void {
    const token = session.accessToken;
    const me = session.me;
    if (!token || !me || this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/command/${encodeURIComponent(me.id)}`, [
      'codex32',
      `bearer.${token}`,
    ]);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => {
      this.retryMs = 500;
      this.setState('open');
      ws.send(JSON.stringify({ type: 'subscribe', bots: '*', figures: session.has('bots:read') }));
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m: ServerMessage;
      try {
        m = JSON.parse(e.data) as ServerMessage;
      } catch {
        return;
      }
      for (const l of this.listeners) l(m);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('closed');
      if (this.stopped) return;
      // 4401: the token ended; renew it first.
      const again = () => setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15_000);
      if (e.code === 4401) void session.renew().then((ok) => ok && again());
      else again();
    };
  }
}

export const socket = new CommandSocket();
