import { botWords, normalize } from '../intents.js';

/**
 * The JSGF grammar speech is constrained to: the command phrasings the
 * intent parser knows, with the current bots' ids and names in the bot slot.
 * Recognition then picks the closest command, not free text: "start" and
 * "stop" can still be confused, hence the confirmation of spoken stops.
 */
export interface CommandGrammar {
  jsgf: string;
  /** Words the grammar uses that the dictionary may lack (bot ids, odd name words), each with how to say it. */
  words: string[];
}

const JSGF_WORD = /^[a-z0-9][a-z0-9'-]*$/;

export function commandGrammar(botNames: readonly string[]): CommandGrammar {
  const alternatives = new Set<string>();
  const words = new Set<string>();
  for (const raw of botNames) {
    const phrase = botWords(normalize(raw));
    const parts = phrase.split(' ').filter((w) => JSGF_WORD.test(w));
    if (parts.length === 0 || parts.length > 6) continue;
    alternatives.add(parts.join(' '));
    for (const p of parts) words.add(p);
  }
  const bot = alternatives.size ? [...alternatives].sort().join(' | ') : 'nothing';
  const jsgf = `#JSGF V1.0;
grammar codex32;
<bot> = ${bot};
<target> = [the] <bot> [bot];
<start> = (start | run | deploy | launch) <target>;
<stop> = (stop | halt | shut down) <target>;
<restart> = (restart | reboot) <target>;
<delete> = (delete | remove) <target>;
<status> = status | status of (all bots | everything | <target>) | how is <target> | is <target> running;
<list> = list [all] [the] bots | show [me] [all] [the] bots;
<doing> = what is <target> doing | tell me about <target>;
<logs> = [show] [the] logs (of | for) <target>;
<incidents> = incidents | incidents (of | for) <target> | what went wrong with <target>;
<answer> = help | yes | no | cancel | confirm;
public <command> = <start> | <stop> | <restart> | <delete> | <status> | <list> | <doing> | <logs> | <incidents> | <answer>;
`;
  return { jsgf, words: [...words] };
}
