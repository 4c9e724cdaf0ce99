import { botWords, normalize } from '../intents.js';

/**
 * The grammar speech is constrained to: the command phrasings the intent
 * parser knows, with the current bots' ids and names in the bot slot.
 * Recognition then picks the closest command, not free text: "start" and
 * "stop" can still be confused, hence the confirmation of spoken stops.
 *
 * The JSGF text is the one definition. pocketsphinx takes it as it is;
 * Vosk takes a list of phrases, which `expandJsgf` derives from it.
 */
export interface CommandGrammar {
  jsgf: string;
  /** Words the bot slot uses (bot ids, odd name words): the engine may need to be told how to say them, or leave them out. */
  words: string[];
}

const JSGF_WORD = /^[a-z0-9][a-z0-9'-]*$/;

const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/**
 * How a bot id or name is said, word by word: "analytics-v1" → "analytics v one".
 * For engines (Vosk) that only know dictionary words; pocketsphinx keeps the
 * id as one token and is given its pronunciation instead.
 */
export function spokenWords(phrase: string): string {
  return (phrase.toLowerCase().match(/[a-z]+|[0-9]/g) ?? [])
    .map((p) => (/[0-9]/.test(p) ? DIGITS[Number(p)]! : p))
    .join(' ');
}

/**
 * `spoken`: bot names as dictionary words (Vosk) rather than ids as single
 * tokens (pocketsphinx). `exclude`: words the engine cannot say; a bot whose
 * words include one is left out rather than failing the whole grammar.
 */
export function commandGrammar(
  botNames: readonly string[],
  opts: { spoken?: boolean; exclude?: ReadonlySet<string> } = {},
): CommandGrammar {
  const alternatives = new Set<string>();
  const words = new Set<string>();
  for (const raw of botNames) {
    let phrase = botWords(normalize(raw));
    if (opts.spoken) phrase = spokenWords(phrase);
    const parts = phrase.split(' ').filter((w) => JSGF_WORD.test(w));
    if (parts.length === 0 || parts.length > 6) continue;
    if (opts.exclude && parts.some((p) => opts.exclude!.has(p))) continue;
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

type Node =
  | { kind: 'word'; word: string }
  | { kind: 'ref'; name: string }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'opt'; item: Node };

/**
 * Every sentence the grammar's public rule accepts, for engines that take a
 * phrase list. Handles the JSGF this module writes: words, `<rule>`
 * references, `( )` groups, `[ ]` optionals and `|`. Throws past `limit`
 * phrases rather than building an unbounded list.
 */
export function expandJsgf(jsgf: string, limit = 100_000): string[] {
  const rules = new Map<string, Node>();
  let top: string | null = null;
  for (const line of jsgf.split('\n')) {
    const m = /^\s*(public\s+)?<([\w-]+)>\s*=\s*(.*);\s*$/.exec(line);
    if (!m) continue;
    rules.set(m[2]!, parseBody(m[3]!));
    if (m[1]) top = m[2]!;
  }
  if (!top) throw new Error('the grammar has no public rule');
  const memo = new Map<string, string[]>();
  const expand = (node: Node, depth: number): string[] => {
    if (depth > 32) throw new Error('the grammar nests too deeply (a rule refers to itself?)');
    switch (node.kind) {
      case 'word':
        return [node.word];
      case 'ref': {
        const cached = memo.get(node.name);
        if (cached) return cached;
        const rule = rules.get(node.name);
        if (!rule) throw new Error(`the grammar refers to <${node.name}>, which it does not define`);
        const out = expand(rule, depth + 1);
        memo.set(node.name, out);
        return out;
      }
      case 'opt':
        return ['', ...expand(node.item, depth + 1)];
      case 'alt':
        return node.options.flatMap((o) => expand(o, depth + 1));
      case 'seq': {
        let acc = [''];
        for (const item of node.items) {
          const next = expand(item, depth + 1);
          if (acc.length * next.length > limit) throw new Error(`the grammar has more than ${limit} phrases`);
          acc = acc.flatMap((a) => next.map((n) => (a && n ? `${a} ${n}` : a || n)));
        }
        return acc;
      }
    }
  };
  const phrases = new Set(expand({ kind: 'ref', name: top }, 0).filter(Boolean));
  if (phrases.size > limit) throw new Error(`the grammar has more than ${limit} phrases`);
  return [...phrases];
}

function parseBody(body: string): Node {
  const tokens = body.match(/<[\w-]+>|[()[\]|]|[^\s()[\]|<>]+/g) ?? [];
  let i = 0;
  const alternatives = (close: string | null): Node => {
    const options: Node[] = [];
    let items: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t === close) break;
      if (t === '|') {
        options.push({ kind: 'seq', items });
        items = [];
      } else if (t === '(') items.push(alternatives(')'));
      else if (t === '[') items.push({ kind: 'opt', item: alternatives(']') });
      else if (t === ')' || t === ']') throw new Error(`unbalanced "${t}" in the grammar`);
      else if (t.startsWith('<')) items.push({ kind: 'ref', name: t.slice(1, -1) });
      else items.push({ kind: 'word', word: t });
    }
    options.push({ kind: 'seq', items });
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  };
  return alternatives(null);
}
