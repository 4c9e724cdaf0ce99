import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import type { LibraryHandle } from 'koffi';

type KoffiFunction = ReturnType<LibraryHandle['func']>;

/**
 * Debian's libpocketsphinx (bookworm: 0.8+5prealpha, the cmd_ln_t API),
 * bound with koffi: a decoder constrained to a JSGF grammar, fed PCM of
 * 16 kHz 16-bit mono as it streams in. Nothing here is loaded until a
 * decoder is asked for; what is missing is said in words, never a crash.
 */

const MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
export const DEFAULT_HMM = `${MODEL_DIR}/en-us`;
export const DEFAULT_DICT = `${MODEL_DIR}/cmudict-en-us.dict`;
const INSTALL =
  'install Debian\'s "pocketsphinx" and "pocketsphinx-en-us" (apt-get install pocketsphinx pocketsphinx-en-us)';

interface Binding {
  koffi: typeof Koffi;
  cmdLnInit: KoffiFunction;
  cmdLnFree: KoffiFunction;
  ckdFree: KoffiFunction;
  psArgs: KoffiFunction;
  psInit: KoffiFunction;
  psFree: KoffiFunction;
  setJsgf: KoffiFunction;
  setSearch: KoffiFunction;
  addWord: KoffiFunction;
  lookupWord: KoffiFunction;
  startUtt: KoffiFunction;
  processRaw: KoffiFunction;
  endUtt: KoffiFunction;
  getHyp: KoffiFunction;
}

let binding: Binding | null = null;
let loadError: string | null = null;

/** Loads the libraries once; null and the reason when they (or the model) are not there. */
export function loadPocketsphinx(): { binding: Binding | null; error: string | null } {
  if (binding || loadError) return { binding, error: loadError };
  try {
    if (!existsSync(DEFAULT_HMM) || !existsSync(DEFAULT_DICT))
      throw new Error(`the en-us model is not in ${MODEL_DIR}`);
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    let sb: LibraryHandle;
    let ps: LibraryHandle;
    try {
      sb = koffi.load('libsphinxbase.so.3');
      ps = koffi.load('libpocketsphinx.so.3');
    } catch (err) {
      throw new Error(`libpocketsphinx.so.3 or libsphinxbase.so.3 cannot be loaded (${(err as Error).message})`, {
        cause: err,
      });
    }
    // Silence its stderr chatter, process-wide: our own logs say what matters.
    sb.func('void err_set_logfp(void *fp)')(null);
    binding = {
      koffi,
      cmdLnInit: sb.func('void *cmd_ln_init(void *inout, void *defn, int strict, ...)'),
      cmdLnFree: sb.func('int cmd_ln_free_r(void *cmdln)'),
      ckdFree: sb.func('void ckd_free(void *p)'),
      psArgs: ps.func('void *ps_args(void)'),
      psInit: ps.func('void *ps_init(void *config)'),
      psFree: ps.func('int ps_free(void *ps)'),
      setJsgf: ps.func('int ps_set_jsgf_string(void *ps, const char *name, const char *jsgf)'),
      setSearch: ps.func('int ps_set_search(void *ps, const char *name)'),
      addWord: ps.func('int ps_add_word(void *ps, const char *word, const char *phones, int update)'),
      lookupWord: ps.func('void *ps_lookup_word(void *ps, const char *word)'),
      startUtt: ps.func('int ps_start_utt(void *ps)'),
      processRaw: ps.func('int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
      endUtt: ps.func('int ps_end_utt(void *ps)'),
      getHyp: ps.func('const char *ps_get_hyp(void *ps, _Out_ int32_t *score)'),
    };
  } catch (err) {
    loadError = `pocketsphinx is not available: ${(err as Error).message}; ${INSTALL}.`;
  }
  return { binding, error: loadError };
}

const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/** One decoder (about 150 ms to create: it loads the model); reused across utterances, one at a time. */
export class PocketsphinxDecoder {
  private readonly config: unknown;
  private readonly decoder: unknown;
  private grammarKey: string | null = null;
  private inUtterance = false;

  constructor(private readonly b: Binding) {
    const s = (v: string | null) => ['str', v];
    // -remove_noise no: synthetic and close-talk speech is clean, and noise removal cost accuracy in tests.
    this.config = b.cmdLnInit(
      null,
      b.psArgs(),
      1,
      ...s('-hmm'),
      ...s(DEFAULT_HMM),
      ...s('-dict'),
      ...s(DEFAULT_DICT),
      ...s('-samprate'),
      ...s('16000'),
      ...s('-remove_noise'),
      ...s('no'),
      ...s(null),
    );
    if (!this.config) throw new Error('pocketsphinx: the decoder configuration was refused');
    this.decoder = b.psInit(this.config);
    if (!this.decoder) throw new Error(`pocketsphinx: the decoder did not start (model in ${DEFAULT_HMM})`);
  }

  /** The phones of a word, or null when the dictionary lacks it. */
  lookup(word: string): string | null {
    const p = this.b.lookupWord(this.decoder, word) as unknown;
    if (!p) return null;
    const phones = this.b.koffi.decode(p, 'char', -1) as string;
    this.b.ckdFree(p);
    return phones;
  }

  /** Phones for a bot id such as "analytics-v1": each part looked up, digits as number words, unknown parts spelled letter by letter. */
  pronounce(id: string): string | null {
    const phones: string[] = [];
    for (const part of id.toLowerCase().match(/[a-z]+|[0-9]/g) ?? []) {
      const whole = this.lookup(/[0-9]/.test(part) ? DIGITS[Number(part)]! : part);
      if (whole) {
        phones.push(whole);
        continue;
      }
      for (const letter of part) {
        const l = this.lookup(letter);
        if (!l) return null;
        phones.push(l);
      }
    }
    return phones.length ? phones.join(' ') : null;
  }

  /** Sets the grammar (unchanged grammars are kept); words it needs and the dictionary lacks are added first. */
  useGrammar(jsgf: string, extraWords: Record<string, string>): void {
    const key = jsgf;
    if (key === this.grammarKey) return;
    for (const [word, phones] of Object.entries(extraWords)) {
      if (!this.lookup(word)) this.b.addWord(this.decoder, word, phones, 0);
    }
    if ((this.b.setJsgf(this.decoder, 'commands', jsgf) as number) < 0)
      throw new Error('pocketsphinx refused the command grammar');
    if ((this.b.setSearch(this.decoder, 'commands') as number) < 0)
      throw new Error('pocketsphinx could not switch to the command grammar');
    this.grammarKey = key;
  }

  start(): void {
    if (this.inUtterance) this.finish();
    if ((this.b.startUtt(this.decoder) as number) < 0) throw new Error('pocketsphinx could not start an utterance');
    this.inUtterance = true;
  }

  /** Feeds whole 16-bit samples at 16 kHz (the resampler's output); returns what it hears so far. */
  feed(pcm: Buffer): string {
    if (pcm.length && (this.b.processRaw(this.decoder, pcm, pcm.length >> 1, 0, 0) as number) < 0)
      throw new Error('pocketsphinx failed on the audio');
    return this.hypothesis();
  }

  finish(): string {
    if (!this.inUtterance) return '';
    this.b.endUtt(this.decoder);
    this.inUtterance = false;
    return this.hypothesis();
  }

  free(): void {
    if (this.inUtterance) this.finish();
    this.b.psFree(this.decoder);
    this.b.cmdLnFree(this.config);
  }

  private hypothesis(): string {
    return ((this.b.getHyp(this.decoder, [0]) as string | null) ?? '').trim();
  }
}
