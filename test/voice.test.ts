import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { resampler } from '../conversation/voice.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';

type Frame = { type: string; text?: string; final?: boolean; data?: any; action?: any };

/** espeak-ng's voice for `text`: 16-bit mono PCM at 22050 Hz (the data chunk of its WAV). */
function speak(text: string, voice = 'en-us'): Buffer {
  const wav = execFileSync('espeak-ng', ['-v', voice, '-s', '150', '--stdout', text]);
  const data = wav.indexOf('data');
  if (data < 0) throw new Error('espeak-ng gave no WAV data chunk');
  return wav.subarray(data + 8);
}

/** One spoken command over the socket, streamed in 100 ms frames: the final transcript and the answer. */
async function say(ws: WebSocket, frames: Frame[], pcm: Buffer): Promise<{ transcript: string; answer: Frame; partials: number }> {
  const from = frames.length;
  ws.send(JSON.stringify({ type: 'audio_start', sample_rate: 22050 }));
  const chunk = 22050 * 2 * 0.1;
  for (let i = 0; i < pcm.length; i += chunk) ws.send(pcm.subarray(i, i + chunk));
  ws.send(JSON.stringify({ type: 'audio_end' }));
  const final = await waitFor(async () => frames.slice(from).find((f) => f.type === 'transcript' && f.final), 'the final transcript', 15_000, 10).catch((err: Error) => {
    throw new Error(`${err.message}; frames since audio_start: ${JSON.stringify(frames.slice(from).filter((f) => f.type !== 'transcript' || f.final))}`);
  });
  const at = frames.indexOf(final);
  const answer = await waitFor(async () => frames.slice(at + 1).find((f) => f.type === 'reply' || f.type === 'confirm' || f.type === 'error'), 'the answer', 15_000, 10);
  return { transcript: final.text ?? '', answer, partials: frames.slice(from, at).filter((f) => f.type === 'transcript' && !f.final).length };
}

describe('voice: spoken commands (espeak-ng) through pocketsphinx over the command socket', () => {
  let t: TestPlatform;
  let ws: WebSocket;
  const frames: Frame[] = [];

  beforeAll(async () => {
    t = await startTestPlatform('postgres', { STT_PROVIDER: 'pocketsphinx' });
    const username = 'voice-operator';
    const password = 'Spoken words carry far 99!';
    await t.request('POST', '/api/v1/users', { username, password, role: 'operator' });
    const token = (await t.anonymous('POST', '/api/v1/auth/login', { username, password })).body.access_token;
    for (const [id, name] of [['analytics-v1', 'Analytics'], ['echo', 'Echo'], ['weather', 'Weather']]) await t.request('POST', '/api/v1/bots', { id, name, blueprint: 'sleeper.mjs' });
    await t.request('POST', '/api/v1/bots/analytics-v1/start');
    await waitForBot(t, 'analytics-v1', 'running', (b) => b.status === 'running');
    ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws/command/${username}?token=${token}`);
    ws.on('message', (data, isBinary) => !isBinary && frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  });
  afterAll(async () => {
    ws?.close();
    await t?.close();
  });

  it('carries out most of 32 spoken commands right, and runs no spoken stop, restart or delete before a yes', async () => {
    // [spoken, expected action, expected bot (null: the fleet or none)]
    const commands: Array<[string, string, string | null]> = [
      ['status', 'status', null],
      ['status of all bots', 'status', null],
      ['status of echo', 'status', 'echo'],
      ['status of the weather bot', 'status', 'weather'],
      ['how is echo', 'status', 'echo'],
      ['is weather running', 'status', 'weather'],
      ['status of analytics v one', 'status', 'analytics-v1'],
      ['list bots', 'list', null],
      ['list all the bots', 'list', null],
      ['show me the bots', 'list', null],
      ['what is echo doing', 'doing', 'echo'],
      ['what is the weather bot doing', 'doing', 'weather'],
      ['tell me about analytics v one', 'doing', 'analytics-v1'],
      ['logs of echo', 'logs', 'echo'],
      ['show the logs for weather', 'logs', 'weather'],
      ['logs for analytics v one', 'logs', 'analytics-v1'],
      ['incidents', 'incidents', null],
      ['incidents for echo', 'incidents', 'echo'],
      ['what went wrong with weather', 'incidents', 'weather'],
      ['help', 'help', null],
      ['start echo', 'start', 'echo'],
      ['start the weather bot', 'start', 'weather'],
      ['run echo', 'start', 'echo'],
      ['deploy weather', 'start', 'weather'],
      ['stop echo', 'stop', 'echo'],
      ['stop the weather bot', 'stop', 'weather'],
      ['restart echo', 'restart', 'echo'],
      ['restart analytics v one', 'restart', 'analytics-v1'],
      ['delete weather', 'delete', 'weather'],
      ['remove echo', 'delete', 'echo'],
      ['halt analytics v one', 'stop', 'analytics-v1'],
      ['reboot weather', 'restart', 'weather'],
    ];
    let right = 0;
    const misses: string[] = [];
    let partials = 0;
    for (const [spoken, action, bot] of commands) {
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
      expect(answer.type === 'reply' && ['stop', 'restart', 'delete'].includes(answer.data?.action) && answer.data?.result, `"${spoken}" ran without a yes`).toBeFalsy();
    }
    const share = right / commands.length;
    console.log(`voice (pocketsphinx, espeak-ng en-us): ${right}/${commands.length} carried out right (${Math.round(share * 100)}%), ${partials} partial transcripts${misses.length ? `; missed: ${misses.join('; ')}` : ''}`);
    expect(partials).toBeGreaterThan(commands.length);
    expect(share).toBeGreaterThanOrEqual(0.75);
    // Nothing destructive happened: every bot is still there, analytics still running.
    for (const id of ['analytics-v1', 'echo', 'weather']) expect((await t.request('GET', `/api/v1/bots/${id}`)).status).toBe(200);
    expect((await t.request('GET', '/api/v1/bots/analytics-v1')).body).toMatchObject({ status: 'running', restart_count: 0 });
  });

  it('silence gives an empty transcript and no command', async () => {
    const { transcript, answer } = await say(ws, frames, Buffer.alloc(22050 * 2));
    expect(transcript).toBe('');
    expect(answer.data).toEqual({ understood: false });
  });
});

describe('resampling streamed PCM', () => {
  it('keeps a tone at the new rate, across chunk borders and odd bytes', () => {
    const from = 22050;
    const tone = Buffer.alloc(from * 2);
    for (let i = 0; i < from; i++) tone.writeInt16LE(Math.round(10_000 * Math.sin((2 * Math.PI * 440 * i) / from)), i * 2);
    const r = resampler(from, 16_000);
    const parts: Buffer[] = [];
    for (let i = 0; i < tone.length; i += 777) parts.push(r(tone.subarray(i, i + 777)));
    const out = Buffer.concat(parts);
    expect(Math.abs(out.length / 2 - 16_000)).toBeLessThanOrEqual(2);
    // Zero crossings of 440 Hz over one second: 880.
    let crossings = 0;
    for (let i = 1; i < out.length / 2; i++) if (out.readInt16LE(i * 2) >= 0 !== out.readInt16LE((i - 1) * 2) >= 0) crossings++;
    expect(Math.abs(crossings - 880)).toBeLessThanOrEqual(4);
  });
});
