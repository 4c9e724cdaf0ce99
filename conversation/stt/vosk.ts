import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Koffi from 'koffi';
import type { LibraryHandle } from 'koffi';

type KoffiFunction = ReturnType<LibraryHandle['func']>;

/**
 * libvosk, the shared library the `vosk` npm package ships, bound with koffi
 * (the package's own ffi-napi binding does not build on Node 20, so only its
 * library is used; it is installed without its install scripts). Recognition
 * is constrained to a phrase list; a model directory comes from
 * VOSK_MODEL_PATH. What is missing is said in words, never a crash.
 */

const REQUIRE = createRequire(import.meta.url);
const INSTALL_LIB = 'the "vosk" npm package ships it: npm install vosk --ignore-scripts';
const GET_MODEL =
  'download a Vosk model (e.g. vosk-model-small-en-us-0.15 from alphacephei.com/vosk/models), unpack it and set VOSK_MODEL_PATH to its directory';

interface Binding {
  koffi: typeof Koffi;
  modelFree: KoffiFunction;
  findWord: KoffiFunction;
  recognizerNewGrm: KoffiFunction;
  recognizerFree: KoffiFunction;
  recognizerReset: KoffiFunction;
  acceptWaveform: KoffiFunction;
  result: KoffiFunction;
  partialResult: KoffiFunction;
  finalResult: KoffiFunction;
  modelNew: KoffiFunction;
}

let binding: Binding | null = null;
let libraryError: string | null = null;

/** Where the vosk package keeps libvosk for this platform. */
function libraryPath(): string {
  let pkg: string;
  try {
    pkg = path.dirname(REQUIRE.resolve('vosk/package.json'));
  } catch {
    throw new Error(`libvosk was not found: ${INSTALL_LIB}`);
  }
  const dir = { linux: 'linux-x86_64', darwin: 'osx-universal', win32: 'win-x86_64' }[process.platform as string];
  const file = { linux: 'libvosk.so', darwin: 'libvosk.dylib', win32: 'libvosk.dll' }[process.platform as string];
  if (!dir || !file || (process.platform === 'linux' && process.arch !== 'x64'))
    throw new Error(`the vosk package ships no libvosk for ${process.platform}-${process.arch}`);
  const lib = path.join(pkg, 'lib', dir, file);
  if (!existsSync(lib)) throw new Error(`libvosk is not at ${lib}: ${INSTALL_LIB}`);
  return lib;
}

/** Loads libvosk once; null and the reason when it cannot be. */
export function loadVosk(): { binding: Binding | null; error: string | null } {
  if (binding || libraryError) return { binding, error: libraryError };
  try {
    const lib = libraryPath();
    const koffi = REQUIRE('koffi') as typeof Koffi;
    let vosk: LibraryHandle;
    try {
      vosk = koffi.load(lib);
    } catch (err) {
      throw new Error(`libvosk (${lib}) cannot be loaded: ${(err as Error).message}`, { cause: err });
    }
    // Kaldi's own logging goes to stderr; our logs say what matters.
    vosk.func('void vosk_set_log_level(int level)')(-1);
    binding = {
      koffi,
      modelNew: vosk.func('void *vosk_model_new(const char *path)'),
      modelFree: vosk.func('void vosk_model_free(void *model)'),
      findWord: vosk.func('int vosk_model_find_word(void *model, const char *word)'),
      recognizerNewGrm: vosk.func('void *vosk_recognizer_new_grm(void *model, float rate, const char *grammar)'),
      recognizerFree: vosk.func('void vosk_recognizer_free(void *rec)'),
      recognizerReset: vosk.func('void vosk_recognizer_reset(void *rec)'),
      acceptWaveform: vosk.func('int vosk_recognizer_accept_waveform(void *rec, const uint8_t *data, int length)'),
      result: vosk.func('const char *vosk_recognizer_result(void *rec)'),
      partialResult: vosk.func('const char *vosk_recognizer_partial_result(void *rec)'),
      finalResult: vosk.func('const char *vosk_recognizer_final_result(void *rec)'),
    };
  } catch (err) {
    libraryError = `vosk is not available: ${(err as Error).message}.`;
  }
  return { binding, error: libraryError };
}

/** A loaded model: its words and its sample rate. Loading takes seconds for big models, so it is done once, at start-up. */
export class VoskModel {
  readonly sampleRate: number;
  private readonly handle: unknown;

  private constructor(
    readonly b: Binding,
    readonly dir: string,
  ) {
    this.sampleRate = modelSampleRate(dir);
    this.handle = b.modelNew(dir);
    if (!this.handle)
      throw new Error(
        `no Vosk model could be loaded from ${dir} (a model directory holds am/, conf/ and graph/): ${GET_MODEL}`,
      );
  }

  /** The model in VOSK_MODEL_PATH, or why there is none. */
  static open(b: Binding, dir: string | undefined): VoskModel {
    if (!dir) throw new Error(`VOSK_MODEL_PATH is not set: ${GET_MODEL}`);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new Error(`VOSK_MODEL_PATH (${dir}) is not a directory: ${GET_MODEL}`);
    return new VoskModel(b, dir);
  }

  knows(word: string): boolean {
    return (this.b.findWord(this.handle, word) as number) >= 0;
  }

  recognizer(phrases: readonly string[]): VoskRecognizer {
    return new VoskRecognizer(
      this.b,
      this.b.recognizerNewGrm(this.handle, this.sampleRate, JSON.stringify([...phrases, '[unk]'])),
    );
  }
}

/** Reads --sample-frequency from the model's conf/mfcc.conf (16 kHz when it says nothing). */
function modelSampleRate(dir: string): number {
  try {
    const m = /--sample-frequency=(\d+)/.exec(readFileSync(path.join(dir, 'conf', 'mfcc.conf'), 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // No conf: Vosk's English models are 16 kHz.
  }
  return 16_000;
}

/**
 * One recognizer for one phrase list, reused across utterances (building
 * the grammar's graph is the expensive part). Vosk ends a segment at each
 * pause; the segments of one utterance are joined.
 */
export class VoskRecognizer {
  private segments: string[] = [];

  constructor(
    private readonly b: Binding,
    private readonly handle: unknown,
  ) {
    if (!handle) throw new Error('Vosk refused the command grammar');
  }

  start(): void {
    this.b.recognizerReset(this.handle);
    this.segments = [];
  }

  /** Feeds whole 16-bit samples at the model's rate (the resampler's output); returns what it hears so far. */
  feed(pcm: Buffer): string {
    if (pcm.length && (this.b.acceptWaveform(this.handle, pcm, pcm.length) as number) === 1)
      this.segments.push(text(this.b.result(this.handle), 'text'));
    return join([...this.segments, text(this.b.partialResult(this.handle), 'partial')]);
  }

  finish(): string {
    const heard = join([...this.segments, text(this.b.finalResult(this.handle), 'text')]);
    this.segments = [];
    return heard;
  }

  free(): void {
    this.b.recognizerFree(this.handle);
  }
}

function text(json: unknown, field: 'text' | 'partial'): string {
  if (typeof json !== 'string') return '';
  try {
    const value = (JSON.parse(json) as Record<string, unknown>)[field];
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}

/** Segments joined; "[unk]" (speech outside the grammar) is kept, so the parser sees that something was not understood. */
function join(parts: string[]): string {
  return parts
    .map((p) => p.trim())
    .filter(Boolean)
    .join(' ');
}
