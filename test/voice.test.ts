import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { speak, VOICE_BOTS, VOICE_COMMANDS } from '../bench/voice-commands.js';
import { parseIntent } from '../conversation/intents.js';
import { commandGrammar, expandJsgf } from '../conversation/stt/grammar.js';
import { loadVosk } from '../conversation/stt/vosk.js';
import { resampler, voiceInput } from '../conversation/voice.js';
import type { Logger } from '../lib/logger.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

type Frame = { type: string; text?: string; final?: boolean; data?: any; action?: any };

/** One spoken command over the socket, streamed in 100 ms frames: the final transcript and the answer. */
async function say(
  ws: WebSocket,
  frames: Frame[],
  pcm: Buffer,
): Promise<{ transcript: string; answer: Frame; partials: number }> {
  const from = frames.length;
  ws.send(JSON.stringify({ type: 'audio_start', sample_rate: 22050 }));
  const chunk = 22050 * 2 * 0.1;
  for (let i = 0; i < pcm.length; i += chunk) ws.send(pcm.subarray(i, i + chunk));
  ws.send(JSON.stringify({ type: 'audio_end' }));
  const final = await waitFor(
    async () => frames.slice(from).find((f) => f.type === 'transcript' && f.final),
    'the final transcript',
    15_000,
    10,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; frames since audio_start: ${JSON.stringify(frames.slice(from).filter((f) => f.type !== 'transcript' || f.final))}`,
    );
  });
  const at = frames.indexOf(final);
  const answer = await waitFor(
    async () => frames.slice(at + 1).find((f) => f.type === 'reply' || f.type === 'confirm' || f.type === 'error'),
    'the answer',
    15_000,
    10,
  );
  return {
    transcript: final.text ?? '',
    answer,
    partials: frames.slice(from, at).filter((f) => f.type === 'transcript' && !f.final).length,
  };
}

/** An access token of the test platform's administrator. */
async function adminToken(t: TestPlatform): Promise<string> {
  const login = await t.anonymous('POST', '/api/v1/auth/login', {
    username: t.config.ADMIN_USERNAME,
    password: t.config.ADMIN_PASSWORD,
  });
  return login.body.access_token as string;
}

const voskModel = process.env.VOSK_MODEL_PATH;
const has = (command: string) => spawnSync('sh', ['-c', command], { stdio: 'ignore' }).status === 0;
// The speech itself comes from espeak-ng; pocketsphinx is Debian's library and model. npm test installs them as root
// (scripts/ensure-installed.mjs); elsewhere the suite says what to install instead of failing.
const missing = [
  ...(existsSync('/usr/share/pocketsphinx/model/en-us/en-us') ? [] : ['pocketsphinx', 'pocketsphinx-en-us']),
  ...(has('ldconfig -p | grep -q libpocketsphinx.so.3') ? [] : ['libpocketsphinx3']),
  ...(has('command -v espeak-ng') ? [] : ['espeak-ng']),
];
const withoutPackages =
  missing.length > 0
    ? `needs ${missing.join(', ')}: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`
    : null;
// Vosk needs a model, which is not on this machine by default: its suite runs where VOSK_MODEL_PATH names one.
const providers: Array<{ provider: 'pocketsphinx' | 'vosk'; env: Record<string, string>; skip: string | null }> = [
  { provider: 'pocketsphinx', env: { STT_PROVIDER: 'pocketsphinx' }, skip: withoutPackages },
  {
    provider: 'vosk',
    env: { STT_PROVIDER: 'vosk', VOSK_MODEL_PATH: voskModel ?? '' },
    skip: voskModel ? withoutPackages : 'needs VOSK_MODEL_PATH (a Vosk model directory)',
  },
];

describe.each(providers)(
  'voice: spoken commands (espeak-ng) through $provider over the command socket',
  ({ provider, env, skip }) => {
    if (skip) {
      it.skip(`${skip}, to run against ${provider}`, () => undefined);
      return;
    }
    let t: TestPlatform;
    let ws: WebSocket;
    const frames: Frame[] = [];

    beforeAll(async () => {
      t = await startTestPlatform('postgres', env);
      const username = 'voice-operator';
      const password = 'Spoken words carry far 99!';
      await t.request('POST', '/api/v1/users', { username, password, role: 'operator' });
      const token = (await t.anonymous('POST', '/api/v1/auth/login', { username, password })).body.access_token;
      for (const { id, name } of VOICE_BOTS)
        await t.request('POST', '/api/v1/bots', { id, name, blueprint: 'sleeper.mjs' });
      await t.request('POST', '/api/v1/bots/analytics-v1/start');
      await waitForBot(t, 'analytics-v1', 'running', (b) => b.status === 'running');
      ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws/command/${username}?token=${token}`);
      ws.on(
        'message',
        (data, isBinary) => !isBinary && frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame),
      );
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    });
    afterAll(async () => {
      ws?.close();
      await t?.close();
    });

    it('carries out most of 32 spoken commands right, and runs no spoken stop, restart or delete before a yes', async () => {
      let right = 0;
      const misses: string[] = [];
      let partials = 0;
      for (const [spoken, action, bot] of VOICE_COMMANDS) {
        const { transcript, answer, partials: p } = await say(ws, frames, speak(spoken));
        partials += p;
        const got = answer.type === 'confirm' ? answer.action : answer.data;
        const ok = got?.action === action && (bot === null ? !got.bot_id : got.bot_id === bot);
        if (ok) right++;
        else misses.push(`"${spoken}" → heard "${transcript}" → ${answer.type} ${JSON.stringify(got)}`);
        // Spoken stops, restarts and deletes only ever ask; the answer here is always no.
        if (answer.type === 'confirm') {
          expect(['stop', 'restart', 'delete']).toContain(answer.action.action);
          ws.send(JSON.stringify({ type: 'cancel' }));
          await waitFor(async () => frames.at(-1)?.text?.startsWith('Cancelled'), 'the cancellation');
        }
        expect(
          answer.type === 'reply' && ['stop', 'restart', 'delete'].includes(answer.data?.action) && answer.data?.result,
          `"${spoken}" ran without a yes`,
        ).toBeFalsy();
      }
      const share = right / VOICE_COMMANDS.length;
      console.log(
        `voice (${provider}, espeak-ng en-us): ${right}/${VOICE_COMMANDS.length} carried out right (${Math.round(share * 100)}%), ${partials} partial transcripts${misses.length ? `; missed: ${misses.join('; ')}` : ''}`,
      );
      expect(partials).toBeGreaterThan(VOICE_COMMANDS.length);
      expect(share).toBeGreaterThanOrEqual(0.75);
      // Nothing destructive happened: every bot is still there, analytics still running.
      for (const id of ['analytics-v1', 'echo', 'weather'])
        expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(200);
      expect((await t.request('GET', '/api/v1/bots/analytics-v1')).body).toMatchObject({
        status: 'running',
        restart_count: 0,
      });
    });

    it('silence gives an empty transcript and no command', async () => {
      const { transcript, answer } = await say(ws, frames, Buffer.alloc(22050 * 2));
      expect(transcript).toBe('');
      expect(answer.data).toEqual({ understood: false });
    });
  },
);

describe('voice: the vosk provider', () => {
  let t: TestPlatform | undefined;
  afterAll(() => t?.close());

  it('loads libvosk from the vosk package', () => {
    const { binding, error } = loadVosk();
    expect(error).toBeNull();
    expect(binding).not.toBeNull();
  });

  it('without a model, says so at start-up and over the socket, and the platform runs on', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-no-vosk-model-'));
    const warnings: string[] = [];
    const logger = { warn: (msg: string) => warnings.push(msg), info: () => undefined } as unknown as Logger;
    // An empty directory: libvosk is asked and refuses it.
    const input = voiceInput({ ENABLE_VOICE_INPUT: true, STT_PROVIDER: 'vosk', VOSK_MODEL_PATH: empty }, logger)!;
    expect(input.unavailable()).toMatch(new RegExp(`no Vosk model could be loaded from ${empty}.*VOSK_MODEL_PATH`));
    expect(warnings).toEqual([input.unavailable()]);
    expect(
      voiceInput(
        { ENABLE_VOICE_INPUT: true, STT_PROVIDER: 'vosk', VOSK_MODEL_PATH: path.join(empty, 'missing') },
        logger,
      )!.unavailable(),
    ).toMatch(/is not a directory/);

    t = await startTestPlatform('pglite', { STT_PROVIDER: 'vosk', VOSK_MODEL_PATH: '' });
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws/command/admin?token=${await adminToken(t)}`);
    const frames: Frame[] = [];
    ws.on(
      'message',
      (data, isBinary) => !isBinary && frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame),
    );
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'audio_start', sample_rate: 16000 }));
    ws.send(Buffer.alloc(3200));
    ws.send(JSON.stringify({ type: 'audio_end' }));
    ws.send('list bots');
    const error = await waitFor(async () => frames.find((f) => f.type === 'error'), 'the error frame');
    expect(error.text).toMatch(/Voice input is not available: .*VOSK_MODEL_PATH is not set/);
    // Typed commands still work on the same socket.
    await waitFor(async () => frames.find((f) => f.type === 'reply' && f.data?.action === 'list'), 'the list reply');
    ws.close();
  });
});

describe('the voice grammar as phrases (for Vosk)', () => {
  it('expands to exactly the sentences the JSGF accepts, bot names spoken as words', () => {
    const phrases = expandJsgf(commandGrammar(['analytics-v1', 'Echo'], { spoken: true }).jsgf);
    expect(phrases).toContain('start analytics v one');
    expect(phrases).toContain('stop the echo bot');
    expect(phrases).toContain('show me all the bots');
    expect(phrases).toContain('what went wrong with the analytics v one bot');
    expect(phrases).not.toContain('start');
    expect(phrases).not.toContain('start the');
    expect(new Set(phrases).size).toBe(phrases.length);
    // Every phrase is a command the parser understands.
    for (const phrase of phrases) expect(parseIntent(phrase), phrase).not.toBeNull();
  });

  it('leaves out bots with words the engine cannot say, and refuses runaway grammars', () => {
    const phrases = expandJsgf(commandGrammar(['echo', 'zyxq-bot'], { spoken: true, exclude: new Set(['zyxq']) }).jsgf);
    expect(phrases.some((p) => p.includes('zyxq'))).toBe(false);
    expect(phrases).toContain('run echo');
    const many = Array.from({ length: 2000 }, (_, i) => `bot-${i}`);
    expect(() => expandJsgf(commandGrammar(many, { spoken: true }).jsgf, 10_000)).toThrow(/more than 10000 phrases/);
  });
});

describe('resampling streamed PCM', () => {
  it('keeps a tone at the new rate, across chunk borders and odd bytes', () => {
    const from = 22050;
    const tone = Buffer.alloc(from * 2);
    for (let i = 0; i < from; i++)
      tone.writeInt16LE(Math.round(10_000 * Math.sin((2 * Math.PI * 440 * i) / from)), i * 2);
    const r = resampler(from, 16_000);
    const parts: Buffer[] = [];
    for (let i = 0; i < tone.length; i += 777) parts.push(r(tone.subarray(i, i + 777)));
    const out = Buffer.concat(parts);
    expect(Math.abs(out.length / 2 - 16_000)).toBeLessThanOrEqual(2);
    // Zero crossings of 440 Hz over one second: 880.
    let crossings = 0;
    for (let i = 1; i < out.length / 2; i++)
      if (out.readInt16LE(i * 2) >= 0 !== out.readInt16LE((i - 1) * 2) >= 0) crossings++;
    expect(Math.abs(crossings - 880)).toBeLessThanOrEqual(4);
  });

  it('at the same rate passes whole samples on, keeping an odd byte for the next chunk', () => {
    const same = resampler(16_000, 16_000);
    const pcm = Buffer.from([1, 2, 3, 4, 5, 6, 7]);
    expect([...same(pcm.subarray(0, 3))]).toEqual([1, 2]);
    expect([...same(pcm.subarray(3, 6))]).toEqual([3, 4, 5, 6]);
    expect([...same(pcm.subarray(6))]).toEqual([]);
  });
});
