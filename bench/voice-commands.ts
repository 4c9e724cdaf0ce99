import { execFileSync } from 'node:child_process';

/**
 * Spoken commands for the voice tests and the voice benchmark: what is said
 * (by espeak-ng), the action it must lead to and the bot it names (null:
 * the fleet, or no bot). The bots are VOICE_BOTS.
 */
export const VOICE_BOTS = [
  { id: 'analytics-v1', name: 'Analytics' },
  { id: 'echo', name: 'Echo' },
  { id: 'weather', name: 'Weather' },
] as const;

export const VOICE_COMMANDS: ReadonlyArray<readonly [spoken: string, action: string, bot: string | null]> = [
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

/** espeak-ng's voice for `text`: 16-bit mono PCM at 22050 Hz (the data chunk of its WAV). */
export function speak(text: string, voice = 'en-us'): Buffer {
  const wav = execFileSync('espeak-ng', ['-v', voice, '-s', '150', '--stdout', text]);
  const data = wav.indexOf('data');
  if (data < 0) throw new Error('espeak-ng gave no WAV data chunk');
  return wav.subarray(data + 8);
}
