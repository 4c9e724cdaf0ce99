// Runs in the AudioWorkletGlobalScope: the microphone's samples, at the audio context's rate, become
// 16 kHz 16-bit mono PCM (what the command socket takes) in chunks of 100 ms, posted to the page.

declare const sampleRate: number;
declare function registerProcessor(name: string, processor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

const TARGET_RATE = 16_000;
const CHUNK_SAMPLES = 1_600;

/**
 * Each output sample is the mean of the input samples of its span (1/16000 s):
 * a box filter, so what lies above 8 kHz does not fold back into speech.
 */
class Pcm16kDownsampler extends AudioWorkletProcessor {
  private readonly step = sampleRate / TARGET_RATE;
  /** Input samples seen, and where the current output sample's span ends. */
  private seen = 0;
  private spanEnd = this.step;
  private sum = 0;
  private count = 0;
  private chunk = new Int16Array(CHUNK_SAMPLES);
  private filled = 0;

  constructor() {
    super();
    // "flush": what is left goes out, then "flushed", so the page knows the last frame was sent.
    this.port.onmessage = (e: MessageEvent) => {
      if (e.data !== 'flush') return;
      this.post();
      this.port.postMessage('flushed');
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const frames = channels[0]!.length;
    for (let i = 0; i < frames; i++) {
      let v = 0;
      for (const ch of channels) v += ch[i]!;
      this.sum += v / channels.length;
      this.count++;
      if (++this.seen < this.spanEnd) continue;
      const mean = this.sum / this.count;
      this.chunk[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(mean * 32767)));
      this.sum = 0;
      this.count = 0;
      this.spanEnd += this.step;
      if (this.filled === CHUNK_SAMPLES) this.post();
    }
    return true;
  }

  private post(): void {
    if (this.filled === 0) return;
    const out = this.chunk.slice(0, this.filled).buffer;
    this.port.postMessage(out, [out]);
    this.filled = 0;
  }
}

registerProcessor('pcm-16k', Pcm16kDownsampler);
