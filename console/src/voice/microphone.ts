import workletUrl from './pcm-worklet.ts?worker&url';
import { socket } from '../api/socket';

export type MicState = 'idle' | 'starting' | 'listening' | 'sending';

/**
 * Push-to-talk: the microphone, through the PCM worklet, streamed over the
 * command socket as one utterance (audio_start, 16 kHz 16-bit frames,
 * audio_end). The socket answers with partial transcripts while it hears,
 * then the final one and the command's reply.
 */
export class Microphone {
  state: MicState = 'idle';
  private stream: MediaStream | null = null;
  private context: AudioContext | null = null;
  private node: AudioWorkletNode | null = null;
  private stopRequested = false;

  constructor(private readonly onState: (s: MicState) => void) {}

  static supported(): boolean {
    return typeof AudioWorkletNode !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
  }

  /** Opens the microphone and starts the utterance; throws (in words) when the microphone cannot be had. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.stopRequested = false;
    this.set('starting');
    try {
      // The recogniser normalises levels itself: the browser's gain control clipped speech and its
      // noise suppression cost words in tests, and nothing plays while the button is held.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      this.context = new AudioContext();
      await this.context.audioWorklet.addModule(workletUrl);
      const node = new AudioWorkletNode(this.context, 'pcm-16k', {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        channelCount: 1,
        channelCountMode: 'explicit',
      });
      node.port.onmessage = (e: MessageEvent) => {
        if (e.data instanceof ArrayBuffer) socket.sendAudio(e.data);
        else if (e.data === 'flushed') this.finish(true);
      };
      this.node = node;
      if (!socket.sendJson({ type: 'audio_start', sample_rate: 16_000 }))
        throw new Error('Not connected: wait a moment and try again.');
      this.context.createMediaStreamSource(this.stream).connect(node);
      this.set('listening');
      // Released before the microphone was open: the utterance ends at once.
      if (this.stopRequested) this.stop();
    } catch (err) {
      this.finish(false);
      throw new Error(microphoneWords(err), { cause: err });
    }
  }

  /** Ends the utterance: the last samples go out, then audio_end. */
  stop(): void {
    if (this.state === 'starting') {
      this.stopRequested = true;
      return;
    }
    if (this.state !== 'listening' || !this.node) return;
    this.set('sending');
    this.node.port.postMessage('flush');
  }

  /** Drops the utterance without sending the end (the socket refused it, or the page is leaving). */
  cancel(): void {
    this.finish(false);
  }

  private finish(sendEnd: boolean): void {
    if (sendEnd) socket.sendJson({ type: 'audio_end' });
    this.node?.port.close();
    this.node?.disconnect();
    this.node = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    void this.context?.close();
    this.context = null;
    this.set('idle');
  }

  private set(s: MicState): void {
    this.state = s;
    this.onState(s);
  }
}

function microphoneWords(err: unknown): string {
  const name = (err as { name?: string }).name;
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return 'The browser did not allow the microphone: allow it for this site (the lock icon by the address), then try again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError')
    return 'No microphone was found: connect one, or type the command.';
  if (name === 'NotReadableError') return 'The microphone is in use by another program: close it, then try again.';
  return (err as Error).message || 'The microphone could not start.';
}
