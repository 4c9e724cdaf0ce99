/**
 * What an operator asked for, in plain words: typed ("Run bot analytics-v1",
 * "how is the echo bot doing?") or spoken (a transcript). The parser is
 * deliberately forgiving about phrasing and strict about meaning: a command
 * it cannot place is a question back, never a guess that acts.
 */

export type Action =
  | 'start'
  | 'stop'
  | 'restart'
  | 'delete'
  | 'status'
  | 'list'
  | 'logs'
  | 'incidents'
  | 'doing'
  | 'deploy_status'
  | 'rollback'
  | 'help'
  | 'confirm'
  | 'cancel';

export interface Intent {
  action: Action;
  /** The words naming a bot, as said ("the analytics bot" → "analytics"); null for the whole fleet or no bot. */
  bot: string | null;
  /** logs: how many lines. */
  lines?: number;
}

/** Verbs and phrasings per action; the first that matches at the start (or anywhere, for questions) wins. */
const VERBS: Array<[Action, RegExp]> = [
  // Before "start", whose verbs include "deploy".
  [
    'deploy_status',
    /^(?:show\s+(?:me\s+)?|get\s+|check\s+|what(?:'s|\s+is)\s+)?(?:the\s+)?(?:last\s+|latest\s+)?deploy(?:ment)?s?\s+(?:status|state|progress)\b|^how(?:'s|\s+is)\s+the\s+deploy(?:ment)?\s+(?:of|for|to)\b|^(?:is|has)\s+the\s+deploy(?:ment)?\s+(?:of|for|to)\b/,
  ],
  [
    'rollback',
    /^(?:please\s+)?(?:roll\s*back|revert|go\s+back)\b|^undo\s+(?:the\s+)?(?:last\s+)?deploy(?:ment)?\s+(?:of|for|to)\b/,
  ],
  ['restart', /^(?:please\s+)?(?:restart|reboot|bounce|reload|recycle)\b/],
  [
    'start',
    /^(?:please\s+)?(?:start(?:\s+up)?|run|deploy|launch|boot(?:\s+up)?|spin\s+up|fire\s+up|bring\s+up|turn\s+on)\b/,
  ],
  ['stop', /^(?:please\s+)?(?:stop|halt|kill|shut\s+down|shutdown|terminate|turn\s+off|bring\s+down|take\s+down)\b/],
  ['delete', /^(?:please\s+)?(?:delete|remove|destroy|unregister|drop)\b/],
  ['logs', /\blogs?\b|\boutput\b|^tail\b/],
  [
    'incidents',
    /^(?:show\s+(?:me\s+)?|list\s+|any\s+)?(?:the\s+)?(?:recent\s+)?(?:incidents?|problems?|issues?)\b|^what\s+went\s+wrong\b/,
  ],
  [
    'doing',
    /^what(?:'s|\s+is)\s+.+\s+doing\b|^tell\s+me\s+about\b|^how(?:'s|\s+is)\s+.+\s+doing\b|^describe\b|^explain\b/,
  ],
  [
    'status',
    /^(?:show\s+(?:me\s+)?|get\s+|check\s+)?(?:the\s+)?(?:status|state|health)\b|^how(?:'s|\s+is|\s+are)\b|^is\s+.+\s+(?:running|up|down|ok|alive|healthy)\b/,
  ],
  ['list', /^(?:list|show|which|what)\b.*\bbots?\b|^(?:list|ls)\b|^bots\b/],
  ['help', /^(?:help|commands|\?)\b|^what\s+can\s+(?:i|you)\s+do\b|^how\s+do\s+i\b/],
];

const CONFIRM = /^(?:yes|y|yeah|yep|yup|sure|ok|okay|confirm(?:ed)?|do\s+it|go(?:\s+ahead)?|affirmative|proceed)$/;
const CANCEL = /^(?:no|n|nope|nah|cancel|abort|never\s*mind|forget\s+it|don't|do\s+not|negative)$/;

/** Words that say "every bot" where a bot name would go. */
const FLEET =
  /^(?:(?:of|for|on)\s+)?(?:all(?:\s+(?:the\s+)?bots?)?|every(?:\s+bot|thing)|everything|the\s+(?:whole\s+)?fleet|fleet|bots|the\s+bots)$/;

/** Filler around a bot's name: articles, "bot", politeness, prepositions. */
const FILLER = new Set([
  'the',
  'a',
  'an',
  'bot',
  'bots',
  'please',
  'now',
  'for',
  'of',
  'on',
  'me',
  'my',
  'our',
  'called',
  'named',
  'again',
  'up',
  'down',
  'running',
  'doing',
  'is',
  'are',
  'what',
  "what's",
  'how',
  "how's",
  'to',
  'with',
  'about',
  'show',
  'get',
  'lines',
  'line',
  'last',
  'from',
  'that',
  'this',
  'it',
  'right',
  'instance',
  'service',
  'process',
  'tell',
  'check',
  'currently',
  'doing?',
  'and',
  'its',
  "it's",
  'in',
  'at',
  'any',
  'recent',
]);

/** What follows the bot's name in a deployment question or a rollback ("… done?", "… to the previous version"). */
const DEPLOY_TAIL =
  /\s+(?:(?:done|finished|through|over|ok|going)|to\s+(?:the\s+)?(?:previous|last|earlier|old)(?:\s+(?:good|healthy|working))?(?:\s+(?:version|revision|release|build|one))?)$/;

const NUMBER_WORDS: Record<string, string> = {
  zero: '0',
  oh: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
  eleven: '11',
  twelve: '12',
  twenty: '20',
  thirty: '30',
  fifty: '50',
  hundred: '100',
};

export function normalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[’‘]/g, "'")
    .replace(/[^a-z0-9'\-_.\s?]/g, ' ')
    .replace(/[?.!]+(\s|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The words that name a bot, with filler dropped: "the analytics bot" → "analytics". */
export function botWords(rest: string): string {
  return rest
    .split(' ')
    .filter((w) => w && !FILLER.has(w))
    .join(' ')
    .trim();
}

/** Question forms name the bot in the middle ("what is X doing"): the whole text is searched for its name. */
const QUESTION = /^(?:what|how|is|are|tell|describe|explain)\b/;

/** Parses one command; null when it is not a command this parser knows. */
export function parseIntent(text: string): Intent | null {
  const t = normalize(text);
  if (!t) return null;
  if (CONFIRM.test(t)) return { action: 'confirm', bot: null };
  if (CANCEL.test(t)) return { action: 'cancel', bot: null };
  for (const [action, verb] of VERBS) {
    const m = verb.exec(t);
    if (!m) continue;
    if (action === 'help' || action === 'list') return { action, bot: null };
    let rest =
      (action === 'doing' || action === 'status') && QUESTION.test(t)
        ? t
        : action === 'logs'
          ? t.replace(m[0], ' ').replace(/^(?:show|get|read|tail)\s+(?:me\s+)?/, '')
          : t.slice(m.index + m[0].length);
    let lines: number | undefined;
    if (action === 'logs') {
      const spelled = rest.replace(
        /\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|fifty|hundred)\b(?=\s+lines?)/g,
        (w) => NUMBER_WORDS[w]!,
      );
      const n = /\b(?:last\s+)?(\d{1,4})(?:\s+lines?)?\b/.exec(spelled);
      if (n) {
        lines = Number(n[1]);
        rest = spelled.replace(n[0], ' ');
      }
    }
    if (action === 'deploy_status' || action === 'rollback') rest = rest.trim().replace(DEPLOY_TAIL, '');
    const bot = botWords(rest.replace(/\s+/g, ' ').trim());
    if (
      (action === 'status' || action === 'incidents') &&
      (!bot || FLEET.test(bot) || /^(?:all|every|everything|fleet)$/.test(bot))
    )
      return { action, bot: null };
    return lines === undefined ? { action, bot: bot || null } : { action, bot: bot || null, lines };
  }
  return null;
}

/** "analytics v one" → "analytics v1"; spoken digits join the letter or number before them. */
export function spokenToId(words: string): string {
  const parts = words.split(/[\s_]+/).map((w) => NUMBER_WORDS[w] ?? w);
  const out: string[] = [];
  for (const p of parts) {
    const prev = out.at(-1);
    if (prev !== undefined && /^\d+$/.test(p) && /^(?:[a-z]|[a-z]*\d+)$/.test(prev)) out[out.length - 1] = prev + p;
    else out.push(p);
  }
  return out.join(' ');
}
