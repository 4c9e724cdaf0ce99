import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { VoiceInput, VoiceUtterance } from './socket-session.js';
import { commandGrammar } from './stt/grammar.js';
import { loadPocketsphinx, PocketsphinxDecoder } from './stt/pocketsphinx.js';

/** Decoders kept for reuse (each holds the acoustic model; creating one takes about 150 ms). */
const IDLE_DECODERS = 2;
/** Utterances decoded at once, process-wide; more are told to try again. */
const MAX_DECODERS = 8;

/**
 * Speech to text for the command socket, by STT_PROVIDER. What is missing
 * (the library, the model) is said at start-up and to every client that
 * sends audio; the platform runs on without voice.
 */
export function voiceInput(config: Pick<Config, 'ENABLE_VOICE_INPUT' | 'STT_PROVIDER'>, logger: Logger): VoiceInput | null {
  if (!config.ENABLE_VOICE_INPUT) return null;
  if (config.STT_PROVIDER === 'vosk') {
    const why = 'Voice input is not available: the vosk provider is not built into this version yet. Set STT_PROVIDER=pocketsphinx, or type the command.';
    logger.warn(why);
    return unavailable(why);
  }
  const { binding, error } = loadPocketsphinx();
  if (!binding) {
    const why = `Voice input is not available: ${error} Type the command instead.`;
    logger.warn(why);
    return unavailable(why);
  }
  const idle: PocketsphinxDecoder[] = [];
  let busy = 0;
  logger.info('voice input: pocketsphinx, constrained to the command grammar');
  return {
    unavailable: () => (busy >= MAX_DECODERS ? `Voice input is busy (${MAX_DECODERS} people speaking at once); try again in a moment.` : null),
    start(sampleRate, { botNames }): VoiceUtterance {
      const decoder = idle.pop() ?? new PocketsphinxDecoder(binding);
      busy++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        busy--;
        decoder.finish(); // an utterance dropped half-way ends here, so the next one starts clean
        if (idle.length < IDLE_DECODERS) idle.push(decoder);
        else decoder.free();
      };
      try {
        const grammar = commandGrammar(botNames);
        const extra: Record<string, string> = {};
        const unsayable: string[] = [];
        for (const word of grammar.words) {
          if (decoder.lookup(word)) continue;
          const phones = decoder.pronounce(word);
          if (phones) extra[word] = phones;
          else unsayable.push(word);
        }
        // Words nobody can pronounce are left out of the grammar rather than failing it.
        const usable = unsayable.length ? commandGrammar(botNames.filter((n) => !unsayable.some((w) => n.toLowerCase().includes(w)))) : grammar;
        decoder.useGrammar(usable.jsgf, extra);
        decoder.start();
      } catch (err) {
        release();
        throw err;
      }
      const resample = resampler(sampleRate, 16_000);
      let last = '';
      return {
        feed(pcm) {
          const heard = decoder.feed(resample(pcm));
          if (heard === last) return null;
          last = heard;
          return heard;
        },
        finish() {
          return decoder.finish();
        },
        close: release,
      };
    },
  };
}

function unavailable(why: string): VoiceInput {
  return {
    unavailable: () => why,
    start: () => {
      throw new Error(why);
    },
  };
}

/**
 * Streams 16-bit mono PCM from `from` Hz to `to` Hz by linear interpolation,
 * carrying the fraction and the last sample (and an odd byte) across chunks.
 */
export function resampler(from: number, to: number): (chunk: Buffer) => Buffer {
  if (from === to) return (chunk) => chunk;
  const step = from / to;
  let pos = 0; // position of the next output sample, in input samples, relative to `prev`
  let prev: number | null = null;
  let odd: Buffer | null = null;
  return (chunk) => {
    let bytes = odd ? Buffer.concat([odd, chunk]) : chunk;
    odd = null;
    if (bytes.length & 1) {
      odd = bytes.subarray(bytes.length - 1);
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    const n = bytes.length >> 1;
    if (n === 0) return Buffer.alloc(0);
    // Input samples: prev (index 0, when there is one), then this chunk's.
    const offset = prev === null ? 0 : 1;
    const at = (i: number) => (i < offset ? prev! : bytes.readInt16LE((i - offset) * 2));
    const total = n + offset;
    const out: number[] = [];
    while (pos + 1 < total) {
      const i = Math.floor(pos);
      const f = pos - i;
      out.push(Math.round(at(i) * (1 - f) + at(i + 1) * f));
      pos += step;
    }
    // Keep the last input sample; positions continue from it.
    prev = at(total - 1);
    pos -= total - 1;
    const buf = Buffer.alloc(out.length * 2);
    out.forEach((v, k) => buf.writeInt16LE(Math.max(-32768, Math.min(32767, v)), k * 2));
    return buf;
  };
}
