import WebSocket from 'ws';
import { resolveBot } from '../conversation/bot-names.js';
import { parseIntent } from '../conversation/intents.js';
import { voiceInput } from '../conversation/voice.js';
import { createLogger } from '../lib/logger.js';
import { ECHO_BOT, type BenchEnv } from './host.js';
import {
  heading,
  printFigures,
  printSummaryTable,
  round,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, sleep } from './util.js';
import { speak, VOICE_BOTS, VOICE_COMMANDS } from './voice-commands.js';

export interface ChatOptions {
  /** Text commands sent one after another on one socket. */
  commands: number;
  /** Clients subscribed to one bot for the fan-out. */
  clients: number;
  /** Start/stop rounds of that bot while they listen. */
  rounds: number;
}

export interface VoiceResult {
  provider: string;
  /** Why it was not measured (engine or model missing). */
  skipped: string | null;
  commands: number;
  right: number;
  accuracy: number;
  audioSeconds: number;
  decodeSeconds: number;
  /** Decode time / audio time: below 1 keeps up with speech. */
  realTimeFactor: number;
  misses: string[];
}

export interface ChatResult {
  roundTripMs: Record<string, Summary>;
  fanOut: {
    clients: number;
    events: number;
    deliveries: number;
    lost: number;
    deliveryMs: Summary;
    lastClientMs: Summary;
  };
  voice: VoiceResult[];
  targets: TargetResult[];
}

type Frame = {
  type: string;
  text?: string;
  data?: Record<string, unknown>;
  bot_id?: string;
  seq?: number;
  at?: string;
  kind?: string;
  status?: string;
};

/** A socket whose frames are awaited one request at a time. */
class ChatClient {
  private waiting: ((f: Frame) => void) | null = null;
  onEvent: ((f: Frame, receivedAt: number) => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const now = Date.now();
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      if (frame.type === 'event') this.onEvent?.(frame, now);
      else if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(frame);
      }
    });
  }

  static open(url: string): Promise<ChatClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new ChatClient(ws)));
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`the command socket refused the upgrade: ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
  }

  /** Sends a frame; resolves with the next non-event frame and the round trip. */
  ask(message: string | object, timeoutMs = 30_000): Promise<{ frame: Frame; ms: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to ${JSON.stringify(message)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const t0 = performance.now();
      this.waiting = (frame) => {
        clearTimeout(timer);
        resolve({ frame, ms: performance.now() - t0 });
      };
      this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The socket admits 20 messages a second per client: commands are paced under that. */
const PACE_MS = 60;

/**
 * The command socket: text command round trip (frame in → reply out) by
 * command; the latency of fleet events to many subscribed clients (the
 * event's recorded time → each client's receipt, same machine clock); and,
 * in this process, each speech-to-text provider's real-time factor and
 * command accuracy on espeak-ng speech.
 */
export async function benchChat(env: BenchEnv, opts: ChatOptions): Promise<ChatResult> {
  const { api } = env;
  heading(
    `command socket: ${opts.commands} text commands; fan-out of ${opts.rounds} start/stop rounds to ${opts.clients} clients; voice`,
  );
  const username = `${env.runId}-chat`;
  const password = `Bench chat ${env.runId} 1!`;
  await api.expect([201], 'POST', '/api/v1/users', { username, password, role: 'operator' });
  const token = (
    await api.expect<{ access_token: string }>([200], 'POST', '/api/v1/auth/login', { username, password })
  ).body.access_token;
  const socketUrl = `${api.baseUrl.replace(/^http/, 'ws')}/ws/command/${username}?token=${encodeURIComponent(token)}`;

  const ids = VOICE_BOTS.map((b) => `${env.runId}-${b.id}`);
  for (const id of ids)
    await api.registerBot(id, { blueprint: ECHO_BOT, role: 'chat', env: { INTERVAL_MS: '600000' } });
  const [first, second, third] = ids as [string, string, string];

  // Text round trip, by kind of command.
  const phrasings: Array<[string, string]> = [
    ['status', `status of ${first}`],
    ['status (fleet)', 'status of all bots'],
    ['list', 'list bots'],
    ['doing', `what is ${second} doing`],
    ['logs', `logs of ${third}`],
    ['incidents', 'incidents'],
    ['help', 'help'],
    ['json command', JSON.stringify({ type: 'command', text: `how is ${third}` })],
  ];
  const client = await ChatClient.open(socketUrl);
  const samples = new Map<string, number[]>(phrasings.map(([k]) => [k, []]));
  const all: number[] = [];
  for (let i = 0; i < 3 * phrasings.length; i++) await client.ask(phrasings[i % phrasings.length]![1]); // warm-up
  for (let i = 0; i < opts.commands; i++) {
    const [kind, text] = phrasings[i % phrasings.length]!;
    const t0 = performance.now();
    const { frame, ms } = await client.ask(text);
    if (frame.type !== 'reply') throw new Error(`"${text}" answered ${JSON.stringify(frame).slice(0, 300)}`);
    samples.get(kind)!.push(ms);
    all.push(ms);
    await sleep(Math.max(0, PACE_MS - (performance.now() - t0)));
  }
  // Start and stop: the reply comes once the workflow has taken the command.
  const acting: number[] = [];
  for (let i = 0; i < 10; i++) {
    for (const text of [`start ${first}`, `stop ${first}`]) {
      const { frame, ms } = await client.ask(text);
      if (frame.type !== 'reply') throw new Error(`"${text}" answered ${JSON.stringify(frame).slice(0, 300)}`);
      acting.push(ms);
      await api.waitStatus(
        first,
        text.startsWith('start') ? 'running' : 'stopped',
        10,
        new Deadline(60_000, `${first} after "${text}"`),
      );
    }
  }
  client.close();
  const roundTrip: Array<[string, Summary]> = [
    ['every read command', summarize(all)],
    ...[...samples].map(([k, v]): [string, Summary] => [k, summarize(v)]),
    ['start / stop (workflow update)', summarize(acting)],
  ];
  printSummaryTable(roundTrip.map(([k, s]) => [`round trip: ${k}`, s]));

  // Fan-out: every client subscribed to one bot; the bot goes round start → stop.
  const clients: ChatClient[] = [];
  for (let i = 0; i < opts.clients; i += 20)
    clients.push(
      ...(await Promise.all(Array.from({ length: Math.min(20, opts.clients - i) }, () => ChatClient.open(socketUrl)))),
    );
  const received = new Map<number, number[]>(); // seq → receipt latencies, one per client
  for (const c of clients) {
    c.onEvent = (e, at) => {
      if (e.bot_id !== second || e.seq === undefined || !e.at) return;
      let list = received.get(e.seq);
      if (!list) received.set(e.seq, (list = []));
      list.push(at - Date.parse(e.at));
    };
    const { frame } = await c.ask({ type: 'subscribe', bots: [second] });
    if (frame.type !== 'reply') throw new Error(`subscribe answered ${JSON.stringify(frame)}`);
  }
  for (let i = 0; i < opts.rounds; i++) {
    await api.expect([202], 'POST', `/api/v1/bots/${second}/start`);
    await api.waitStatus(second, 'running', 10, new Deadline(60_000, `${second} to run`));
    await api.expect([202], 'POST', `/api/v1/bots/${second}/stop`);
    await api.waitStatus(second, 'stopped', 10, new Deadline(60_000, `${second} to stop`));
  }
  await sleep(1000);
  for (const c of clients) c.close();
  const deliveries = [...received.values()].flat();
  const lastClient = [...received.values()].map((l) => Math.max(...l));
  const lost = [...received.values()].reduce((n, l) => n + (opts.clients - l.length), 0);
  const fanOut = {
    clients: opts.clients,
    events: received.size,
    deliveries: deliveries.length,
    lost,
    deliveryMs: summarize(deliveries),
    lastClientMs: summarize(lastClient),
  };
  printSummaryTable([
    [`event → a client (${deliveries.length} deliveries)`, fanOut.deliveryMs],
    [`event → the last of ${opts.clients} clients`, fanOut.lastClientMs],
  ]);
  printFigures([[`events of ${second}; deliveries missing`, `${received.size}; ${lost}`]]);

  // Voice, per provider, in this process.
  const voice: VoiceResult[] = [];
  for (const provider of ['pocketsphinx', 'vosk'] as const) voice.push(measureVoice(provider));
  for (const v of voice) {
    if (v.skipped) printFigures([[`voice ${v.provider}`, `not measured: ${v.skipped}`]]);
    else
      printFigures([
        [`voice ${v.provider}: commands right`, `${v.right}/${v.commands} (${Math.round(v.accuracy * 100)} %)`],
        [
          `voice ${v.provider}: real-time factor`,
          `${v.realTimeFactor.toFixed(3)} (${v.decodeSeconds.toFixed(2)} s decoding ${v.audioSeconds.toFixed(1)} s of speech)`,
        ],
        ...v.misses.slice(0, 5).map((m): [string, string] => [`  missed`, m]),
      ]);
  }

  return {
    roundTripMs: Object.fromEntries(roundTrip.map(([k, s]) => [k, rounded(s)])),
    fanOut: { ...fanOut, deliveryMs: rounded(fanOut.deliveryMs), lastClientMs: rounded(fanOut.lastClientMs) },
    voice,
    targets: [],
  };
}

/** Each spoken command decoded by `provider` as the socket would (100 ms chunks at 22050 Hz), timed, then parsed and resolved. */
function measureVoice(provider: 'pocketsphinx' | 'vosk'): VoiceResult {
  const empty = {
    provider,
    commands: 0,
    right: 0,
    accuracy: Number.NaN,
    audioSeconds: 0,
    decodeSeconds: 0,
    realTimeFactor: Number.NaN,
    misses: [],
  };
  const logger = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'production' }, 'bench-voice');
  const input = voiceInput(
    {
      ENABLE_VOICE_INPUT: true,
      STT_PROVIDER: provider,
      VOSK_MODEL_PATH: process.env.VOSK_MODEL_PATH?.trim() || undefined,
    },
    logger,
  )!;
  const why = input.unavailable();
  if (why) return { ...empty, skipped: why };
  const names = VOICE_BOTS.flatMap((b) => [b.id, b.name]);
  const rate = 22_050;
  const chunk = rate * 2 * 0.1;
  let audio = 0;
  let decode = 0;
  let right = 0;
  const misses: string[] = [];
  for (const [spoken, action, bot] of VOICE_COMMANDS) {
    const pcm = speak(spoken);
    audio += pcm.length / 2 / rate;
    const t0 = performance.now();
    const utterance = input.start(rate, { botNames: names });
    for (let i = 0; i < pcm.length; i += chunk) utterance.feed(pcm.subarray(i, i + chunk));
    const heard = utterance.finish();
    utterance.close();
    decode += (performance.now() - t0) / 1000;
    const intent = parseIntent(heard);
    const resolved = intent?.bot ? resolveBot(intent.bot, VOICE_BOTS) : null;
    const gotBot = resolved?.kind === 'one' ? resolved.bot.id : null;
    if (intent?.action === action && gotBot === bot) right++;
    else misses.push(`"${spoken}" → "${heard}"`);
  }
  return {
    provider,
    skipped: null,
    commands: VOICE_COMMANDS.length,
    right,
    accuracy: round(right / VOICE_COMMANDS.length, 3),
    audioSeconds: round(audio, 2),
    decodeSeconds: round(decode, 3),
    realTimeFactor: round(decode / audio, 4),
    misses,
  };
}
