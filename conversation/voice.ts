import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { VoiceInput, VoiceUtterance } from './socket-session.js';
import { commandGrammar, expandJsgf } from './stt/grammar.js';
import { wholeSamples } from './stt/pcm.js';
import { loadPocketsphinx, PocketsphinxDecoder } from './stt/pocketsphinx.js';
import { loadVosk, VoskModel, type VoskRecognizer } from './stt/vosk.js';

/** Decoders kept for reuse (each holds a model or a compiled grammar, which take 100s of ms to make). */
const IDLE_DECODERS = 2;
/** Utterances decoded at once, process-wide; more are told to try again. */
const MAX_DECODERS = 8;

/** One speech-to-text decoder, reused across utterances, one at a time. */
interface Decoder {
  /** Constrains recognition to the commands and these bots (kept when unchanged). */
  useVocabulary(botNames: readonly string[]): void;
  start(): void;
  /** Feeds PCM at the engine's rate; returns what it hears so far. */
  feed(pcm: Buffer): string;
  finish(): string;
  free(): void;
}

interface Engine {
  description: string;
  sampleRate: number;
  decoder(): Decoder;
}

/**
 * Speech to text for the command socket, by STT_PROVIDER. What is missing
 * (the library, the model) is said at start-up and to every client that
 * sends audio; the platform runs on without voice.
 */
export function voiceInput(
  config: Pick<Config, 'ENABLE_VOICE_INPUT' | 'STT_PROVIDER' | 'VOSK_MODEL_PATH'>,
  logger: Logger,
): VoiceInput | null {
  if (!config.ENABLE_VOICE_INPUT) return null;
  let engine: Engine;
  try {
    engine = config.STT_PROVIDER === 'vosk' ? voskEngine(config.VOSK_MODEL_PATH) : pocketsphinxEngine();
  } catch (err) {
    const why = `Voice input is not available: ${(err as Error).message.replace(/\.?$/, '.')} Type the command instead.`;
    logger.warn(why);
    return unavailable(why);
  }
  logger.info(`voice input: ${engine.description}`);
  return pooled(engine);
}

function pocketsphinxEngine(): Engine {
  const { binding, error } = loadPocketsphinx();
  if (!binding) throw new Error(error!);
  return {
    description: 'pocketsphinx, constrained to the command grammar',
    sampleRate: 16_000,
    decoder() {
      const decoder = new PocketsphinxDecoder(binding);
      return {
        useVocabulary(botNames) {
          const grammar = commandGrammar(botNames);
          const extra: Record<string, string> = {};
          const unsayable = new Set<string>();
          for (const word of grammar.words) {
            if (decoder.lookup(word)) continue;
            const phones = decoder.pronounce(word);
            if (phones) extra[word] = phones;
            else unsayable.add(word);
          }
          decoder.useGrammar(
            unsayable.size ? commandGrammar(botNames, { exclude: unsayable }).jsgf : grammar.jsgf,
            extra,
          );
        },
        start: () => decoder.start(),
        feed: (pcm) => decoder.feed(pcm),
        finish: () => decoder.finish(),
        free: () => decoder.free(),
      };
    },
  };
}

function voskEngine(modelPath: string | undefined): Engine {
  const { binding, error } = loadVosk();
  if (!binding) throw new Error(error!);
  const model = VoskModel.open(binding, modelPath);
  // The phrase list of the latest vocabulary: expanding it is the same work for every decoder.
  let phrasesFor: { key: string; phrases: string[] } | null = null;
  const phrases = (botNames: readonly string[]) => {
    const key = botNames.join('\n');
    if (phrasesFor?.key !== key) {
      // Bots named with words the model does not know are left out: Vosk cannot be taught words at run time.
      const unknown = new Set(commandGrammar(botNames, { spoken: true }).words.filter((w) => !model.knows(w)));
      phrasesFor = { key, phrases: expandJsgf(commandGrammar(botNames, { spoken: true, exclude: unknown }).jsgf) };
    }
    return phrasesFor;
  };
  return {
    description: `vosk (model ${model.dir}, ${model.sampleRate} Hz), constrained to the command phrases`,
    sampleRate: model.sampleRate,
    decoder() {
      let current: { key: string; recognizer: VoskRecognizer } | null = null;
      const recognizer = () => {
        if (!current) throw new Error('no vocabulary was set before the utterance');
        return current.recognizer;
      };
      return {
        useVocabulary(botNames) {
          const { key, phrases: list } = phrases(botNames);
          if (current?.key === key) return;
          current?.recognizer.free();
          current = null;
          current = { key, recognizer: model.recognizer(list) };
        },
        start: () => recognizer().start(),
        feed: (pcm) => recognizer().feed(pcm),
        finish: () => recognizer().finish(),
        free: () => current?.recognizer.free(),
      };
    },
  };
}

/** Decoders pooled across the process's sockets. */
function pooled(engine: Engine): VoiceInput {
  const idle: Decoder[] = [];
  let busy = 0;
  return {
    unavailable: () =>
      busy >= MAX_DECODERS
        ? `Voice input is busy (${MAX_DECODERS} people speaking at once); try again in a moment.`
        : null,
    start(sampleRate, { botNames }): VoiceUtterance {
      busy++;
      let decoder: Decoder | undefined;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        busy--;
        if (!decoder) return;
        decoder.finish(); // an utterance dropped half-way ends here, so the next one starts clean
        if (idle.length < IDLE_DECODERS) idle.push(decoder);
        else decoder.free();
      };
      try {
        decoder = idle.pop() ?? engine.decoder();
        decoder.useVocabulary(botNames);
        decoder.start();
      } catch (err) {
        release();
        throw err;
      }
      const live = decoder;
      const resample = resampler(sampleRate, engine.sampleRate);
      let last = '';
      return {
        feed(pcm) {
          const heard = live.feed(resample(pcm));
          if (heard === last) return null;
          last = heard;
          return heard;
        },
        finish() {
          return live.finish();
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
  // Whole samples out either way: the engines take nothing else.
  if (from === to) return wholeSamples();
  const step = from / to;
  let pos = 0; // position of the next output sample, in input samples, relative to `prev`
  let prev: number | null = null;
  const samples = wholeSamples();
  return (chunk) => {
    const bytes = samples(chunk);
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
