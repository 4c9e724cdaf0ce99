import { BOT_ID_PATTERN } from '../lib/bot-spec.js';
import { FLEET_EVENT_KINDS, type FleetEvent } from '../lib/fleet-events.js';
import type { FleetFigures } from '../lib/fleet-figures-schema.js';
import type { Logger } from '../lib/logger.js';
import type { Conversation, ServerMessage } from './commands.js';

/** The transport as a session sees it: a WebSocket, or anything that carries the same frames. */
export interface Peer {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Bytes queued and not yet written to the network (a slow or stalled reader). */
  bufferedAmount(): number;
}

export interface SessionLimits {
  /** Longest command text, characters. */
  maxCommandChars: number;
  /** Messages a second, sustained; bursts up to `burst`. */
  messagesPerSecond: number;
  burst: number;
  /** Unread bytes queued for the peer past which it is closed as too slow. */
  maxBufferedBytes: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxCommandChars: 1000,
  messagesPerSecond: 20,
  burst: 40,
  maxBufferedBytes: 8 * 1024 * 1024,
};

/** Close codes: RFC 6455's, and 4xxx of ours (the HTTP status they mirror). */
export const CLOSE = {
  normal: 1000,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryLater: 1013,
  unauthorized: 4401,
} as const;

type ClientMessage =
  | { type: 'command'; text: string }
  | { type: 'subscribe'; bots: string[] | '*'; figures?: boolean }
  | { type: 'unsubscribe'; bots?: string[] | '*' }
  | { type: 'confirm' }
  | { type: 'cancel' }
  | { type: 'audio_start'; sample_rate?: number }
  | { type: 'audio_end' }
  | { type: 'ping' }
  | { type: 'token'; token: string };

/** The access token a socket runs on: when it ends, and how a client hands over a fresh one. */
export interface SocketAccess {
  /** When the token stops being valid; null when it does not expire. */
  expiresAt: Date | null;
  /** Checks a new access token of the same user and carries on with it: its expiry, or why it was refused (the old one stays). */
  renew(token: string): Promise<{ expiresAt: Date | null } | { refused: string }>;
}

/** How long before the token ends the client is told to send a fresh one. */
const TOKEN_WARNING_MS = 60_000;
/** The longest delay setTimeout keeps (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Voice: an utterance streamed in, transcripts out; absent when voice is off or no engine could start. */
export interface VoiceInput {
  /** Why voice is not available (switched off, engine or model missing); null when it is. */
  unavailable(): string | null;
  start(sampleRate: number, vocabulary: { botNames: string[] }): VoiceUtterance;
}

export interface VoiceUtterance {
  /** Feeds PCM (16-bit little-endian mono); returns the partial transcript when it changed. */
  feed(pcm: Buffer): string | null;
  /** The final transcript. */
  finish(): string;
  close(): void;
}

const EVENT_NAMES: Record<FleetEvent['kind'], string> = {
  status: 'status changes',
  incident: 'incidents',
  deployment: 'deployment steps',
  deleted: 'deletions',
};

/**
 * One client on the command socket: frames in, replies and events out, in
 * order. Commands run one at a time; events of subscribed bots go out as
 * they happen. Whatever a client sends, it gets an error frame or a close,
 * and this process carries on.
 */
export class SocketSession {
  private readonly conversation: Conversation;
  private subscribed: Set<string> | '*' | null = null;
  private queue: Promise<void> = Promise.resolve();
  private tokens: number;
  private lastRefill = Date.now();
  private refusedInARow = 0;
  private utterance: VoiceUtterance | null = null;
  /** Between an accepted audio_start and its audio_end: audio frames are expected (the utterance opens in order, after the frames before it). */
  private audioOpen = false;
  private audioBytes = 0;
  private closed = false;
  private accessTimers: NodeJS.Timeout[] = [];
  private stopFigures: (() => void) | null = null;

  constructor(
    private readonly peer: Peer,
    conversation: Conversation,
    private readonly opts: {
      limits: SessionLimits;
      logger: Logger;
      voice: VoiceInput | null;
      botNames: () => Promise<string[]>;
      access?: SocketAccess;
      /** Whether the client's current access covers events of this kind (REST's permission for the same facts); absent: every kind. */
      mayReceive?: (kind: FleetEvent['kind'] | 'figures') => boolean;
      /** The running bots' figures at each sample interval, for clients that ask for them; absent: not offered. */
      figures?: { subscribe(listener: (f: FleetFigures) => void): () => void };
    },
  ) {
    this.conversation = conversation;
    this.tokens = opts.limits.burst;
    this.watchExpiry(opts.access?.expiresAt ?? null);
  }

  /**
   * A socket outlives its access token otherwise: a minute before the token
   * ends the client is asked for a fresh one ({"type":"token"}); without
   * one, the socket closes with 4401 when it ends, so nobody keeps receiving
   * events on a token that is no longer valid.
   */
  private watchExpiry(expiresAt: Date | null): void {
    for (const t of this.accessTimers) clearTimeout(t);
    this.accessTimers = [];
    if (!expiresAt || this.closed) return;
    const left = expiresAt.getTime() - Date.now();
    // Node fires timers longer than about 24.8 days at once: a long-lived token is looked at again later instead.
    if (left - TOKEN_WARNING_MS > MAX_TIMER_MS) {
      const later = setTimeout(() => this.watchExpiry(expiresAt), MAX_TIMER_MS);
      later.unref();
      this.accessTimers = [later];
      return;
    }
    const warn = setTimeout(
      () => {
        this.send({
          type: 'token_expiring',
          expires_at: expiresAt.toISOString(),
          text: `Your access token expires at ${expiresAt.toISOString()}. Send {"type":"token","token":"<access token>"} with a fresh one (POST /api/v1/auth/refresh) to stay connected.`,
        });
      },
      Math.max(0, left - TOKEN_WARNING_MS),
    );
    const end = setTimeout(
      () => this.close(CLOSE.unauthorized, 'access token expired: reconnect with a fresh one'),
      Math.max(0, left),
    );
    warn.unref();
    end.unref();
    this.accessTimers = [warn, end];
  }

  /** A text frame. */
  text(frame: string): void {
    if (!this.admit()) return;
    let message: ClientMessage;
    const trimmed = frame.trim();
    if (trimmed.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(trimmed);
      } catch (err) {
        return this.error(
          `That frame is not valid JSON (${(err as Error).message}). Send a command as plain text, or JSON like {"type":"command","text":"status"}.`,
        );
      }
      const checked = checkMessage(parsed, this.opts.limits);
      if (typeof checked === 'string') return this.error(checked);
      message = checked;
    } else {
      if (trimmed.length > this.opts.limits.maxCommandChars)
        return this.error(`A command is at most ${this.opts.limits.maxCommandChars} characters.`);
      message = { type: 'command', text: trimmed };
    }
    this.handle(message);
  }

  /** A binary frame: audio, between audio_start and audio_end. */
  binary(data: Buffer): void {
    // Audio may come faster than real time (a recorded clip): it is bounded by the utterance's size, not the message rate.
    if (this.closed || (!this.audioOpen && !this.admit())) return;
    if (!this.audioOpen)
      return this.error(
        'Binary frames are audio: send {"type":"audio_start","sample_rate":16000} first, then 16-bit little-endian mono PCM, then {"type":"audio_end"}.',
      );
    this.audioBytes += data.length;
    // At most a minute of 48 kHz audio per utterance.
    if (this.audioBytes > 60 * 48_000 * 2) {
      this.audioOpen = false;
      this.enqueue(async () => this.dropUtterance());
      return this.error('That utterance is longer than a minute; it was dropped. Speak one command at a time.');
    }
    this.enqueue(async () => {
      const partial = this.utterance?.feed(data) ?? null;
      if (partial !== null) this.send({ type: 'transcript', final: false, text: partial });
    });
  }

  /** An event of the fleet: delivered when the client subscribed to its bot and its access covers the kind. */
  event(e: FleetEvent): void {
    if (this.closed || !this.subscribed || (this.subscribed !== '*' && !this.subscribed.has(e.bot_id))) return;
    if (this.opts.mayReceive && !this.opts.mayReceive(e.kind)) return;
    this.send({ type: 'event', ...e });
  }

  /** A push of the running bots' figures: the subscribed bots' part, while the client asked for figures and may read bots. */
  private deliverFigures(f: FleetFigures): void {
    if (this.closed || !this.subscribed || this.opts.mayReceive?.('figures') === false) return;
    const subscribed = this.subscribed;
    const bots = subscribed === '*' ? f.bots : f.bots.filter((b) => subscribed.has(b.bot_id));
    if (bots.length) this.send({ type: 'figures', at: f.at, bots });
  }

  closeSession(): void {
    this.dropFigures();
    this.closed = true;
    for (const t of this.accessTimers) clearTimeout(t);
    this.accessTimers = [];
    this.dropUtterance();
  }

  private handle(message: ClientMessage): void {
    switch (message.type) {
      case 'command':
        return this.enqueue(async () => this.send(await this.conversation.say(message.text)));
      case 'confirm':
        return this.enqueue(async () => this.send(await this.conversation.say('yes')));
      case 'cancel':
        return this.enqueue(async () => this.send(await this.conversation.say('no')));
      case 'subscribe':
        return this.enqueue(async () => {
          if (message.bots === '*') this.subscribed = '*';
          else if (this.subscribed !== '*') this.subscribed = new Set([...(this.subscribed ?? []), ...message.bots]);
          const to = this.subscribed === '*' ? 'every bot' : [...this.subscribed!].join(', ');
          const kinds = FLEET_EVENT_KINDS.filter((k) => this.opts.mayReceive?.(k) ?? true);
          const withheld = FLEET_EVENT_KINDS.filter((k) => !kinds.includes(k));
          const what = inWords(kinds.map((k) => EVENT_NAMES[k])) || 'no events';
          let note = withheld.length
            ? ` ${capitalised(inWords(withheld.map((k) => EVENT_NAMES[k])))} are not sent: your access does not cover them.`
            : '';
          if (message.figures) note += ` ${this.startFigures()}`;
          else if (message.figures === false) this.dropFigures();
          this.send({
            type: 'reply',
            text: `Subscribed: ${what} of ${to} come as they happen.${note}`,
            data: {
              subscribed: this.subscribed === '*' ? '*' : [...this.subscribed!],
              events: kinds,
              figures: this.stopFigures !== null,
            },
          });
        });
      case 'unsubscribe':
        return this.enqueue(async () => {
          if (!message.bots || message.bots === '*' || this.subscribed === '*') this.subscribed = null;
          else for (const id of message.bots) this.subscribed?.delete(id);
          if (this.subscribed === null || this.subscribed.size === 0) this.dropFigures();
          const left = this.subscribed === null ? [] : [...(this.subscribed as Set<string>)];
          this.send({
            type: 'reply',
            text: left.length
              ? `Unsubscribed; still subscribed to ${left.join(', ')}.`
              : 'Unsubscribed from every bot.',
            data: { subscribed: left },
          });
        });
      case 'ping':
        return this.send({ type: 'pong' });
      case 'token':
        return this.enqueue(async () => {
          const access = this.opts.access;
          if (!access) return this.error('This socket does not take tokens.');
          const renewed = await access.renew(message.token);
          if ('refused' in renewed)
            return this.error(
              `That token was not taken: ${renewed.refused} The current one stays in use until it expires.`,
            );
          this.watchExpiry(renewed.expiresAt);
          const until = renewed.expiresAt ? `it expires at ${renewed.expiresAt.toISOString()}` : 'it does not expire';
          this.send({
            type: 'reply',
            text: `Token renewed: ${until}.`,
            data: { token_renewed: true, expires_at: renewed.expiresAt?.toISOString() ?? null },
          });
        });
      case 'audio_start': {
        const voice = this.opts.voice;
        const why = voice
          ? voice.unavailable()
          : 'Voice input is switched off on this platform (ENABLE_VOICE_INPUT=false).';
        if (why || !voice) return this.error(why ?? 'Voice input is not available.');
        this.audioOpen = true;
        this.audioBytes = 0;
        return this.enqueue(async () => {
          this.dropUtterance();
          try {
            this.utterance = voice.start(message.sample_rate ?? 16_000, { botNames: await this.opts.botNames() });
          } catch (err) {
            this.audioOpen = false;
            this.opts.logger.warn({ err }, 'speech recognition could not start');
            return this.error(`Speech recognition could not start: ${(err as Error).message}`);
          }
        });
      }
      case 'audio_end':
        if (!this.audioOpen) return this.error('audio_end without audio_start: nothing was being recorded.');
        this.audioOpen = false;
        return this.enqueue(async () => {
          const utterance = this.utterance;
          if (!utterance) return; // it could not start: the client was told
          this.utterance = null;
          const text = utterance.finish();
          utterance.close();
          this.send({ type: 'transcript', final: true, text });
          if (!text)
            return this.send({
              type: 'reply',
              text: 'I heard nothing I could understand. Try again, closer to the microphone.',
              data: { understood: false },
            });
          this.send(await this.conversation.say(text, { spoken: true }));
        });
    }
  }

  /** Starts the figures' pushes (once); says what the client gets. */
  private startFigures(): string {
    if (!this.opts.figures) return 'Figures are not pushed on this socket: read them with GET /api/v1/bots.';
    if (this.opts.mayReceive?.('figures') === false) return 'Figures are not sent: your access does not cover them.';
    this.stopFigures ??= this.opts.figures.subscribe((f) => this.deliverFigures(f));
    return "Running bots' figures come at each sample interval.";
  }

  private dropFigures(): void {
    this.stopFigures?.();
    this.stopFigures = null;
  }

  private dropUtterance(): void {
    this.utterance?.close();
    this.utterance = null;
  }

  /** Runs one step after the previous, so replies keep the order of the frames that asked for them. */
  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => {
      this.opts.logger.error({ err }, 'a chat command failed');
      this.error(
        'That failed on our side; nothing was changed by it. Try again, and tell an administrator if it persists.',
      );
    });
  }

  /** The flood limit: a token bucket; a client that keeps flooding is closed. */
  private admit(): boolean {
    if (this.closed) return false;
    const now = Date.now();
    const { messagesPerSecond, burst } = this.opts.limits;
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * messagesPerSecond);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusedInARow = 0;
      return true;
    }
    if (++this.refusedInARow === 1)
      this.error(`Too many messages: at most ${messagesPerSecond} a second. This one was dropped.`);
    if (this.refusedInARow >= burst * 5) this.close(CLOSE.policy, 'flooding: too many messages');
    return false;
  }

  private error(text: string): void {
    this.send({ type: 'error', text });
  }

  private send(message: ServerMessage | Record<string, unknown>): void {
    if (this.closed) return;
    if (this.peer.bufferedAmount() > this.opts.limits.maxBufferedBytes) {
      return this.close(CLOSE.tryLater, 'too slow: messages are piling up unread');
    }
    this.peer.send(JSON.stringify(message));
  }

  private close(code: number, reason: string): void {
    if (this.closed) return;
    this.closeSession();
    this.peer.close(code, reason);
  }
}

/** A client's JSON message, checked; a string says what is wrong with it. */
function checkMessage(raw: unknown, limits: SessionLimits): ClientMessage | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'A JSON frame is an object with a "type".';
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'command':
      if (typeof m.text !== 'string' || !m.text.trim()) return '"command" needs "text": the command, e.g. "status".';
      if (m.text.length > limits.maxCommandChars) return `A command is at most ${limits.maxCommandChars} characters.`;
      return { type: 'command', text: m.text };
    case 'subscribe':
    case 'unsubscribe': {
      if (m.bots === undefined && m.type === 'unsubscribe') return { type: 'unsubscribe' };
      if (m.figures !== undefined && (m.type !== 'subscribe' || typeof m.figures !== 'boolean'))
        return '"figures" is true or false, and only on "subscribe": true pushes the running bots\' figures at each sample interval.';
      const figures = m.type === 'subscribe' && typeof m.figures === 'boolean' ? { figures: m.figures } : {};
      if (m.bots === '*') return { type: m.type, bots: '*', ...figures };
      if (
        !Array.isArray(m.bots) ||
        m.bots.length === 0 ||
        m.bots.length > 1000 ||
        !m.bots.every((b) => typeof b === 'string' && BOT_ID_PATTERN.test(b))
      ) {
        return `"${m.type}" needs "bots": "*" for every bot, or a list of 1 to 1000 bot ids.`;
      }
      return { type: m.type, bots: m.bots as string[], ...figures };
    }
    case 'confirm':
    case 'cancel':
    case 'audio_end':
    case 'ping':
      return { type: m.type };
    case 'token':
      if (typeof m.token !== 'string' || !m.token || m.token.length > 8192)
        return '"token" needs "token": a fresh access token (POST /api/v1/auth/refresh gives one).';
      return { type: 'token', token: m.token };
    case 'audio_start': {
      const rate = m.sample_rate ?? 16_000;
      if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 8_000 || rate > 48_000)
        return '"sample_rate" is an integer from 8000 to 48000 (16000 is best).';
      return { type: 'audio_start', sample_rate: rate };
    }
    default:
      return `Unknown message type ${JSON.stringify(m.type)}: use command, subscribe, unsubscribe, confirm, cancel, audio_start, audio_end, token or ping.`;
  }
}

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** "a", "a and b", "a, b and c". */
const inWords = (items: string[]) =>
  items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
