import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { VoiceInput } from './socket-session.js';

/**
 * The speech-to-text engine chosen by STT_PROVIDER. This version has no
 * engine wired in yet: voice frames are answered with the reason, and
 * nothing else changes. (Issue 5 brings pocketsphinx and vosk.)
 */
export function voiceInput(config: Pick<Config, 'ENABLE_VOICE_INPUT' | 'STT_PROVIDER'>, logger: Logger): VoiceInput | null {
  if (!config.ENABLE_VOICE_INPUT) return null;
  const why = `Voice input is not available yet: no speech-to-text engine (STT_PROVIDER=${config.STT_PROVIDER}) is built into this version. Type the command instead.`;
  logger.info(why);
  return {
    unavailable: () => why,
    start: () => {
      throw new Error(why);
    },
  };
}
