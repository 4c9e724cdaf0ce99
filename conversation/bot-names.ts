import { botWords, normalize, spokenToId } from './intents.js';

export interface NamedBot {
  id: string;
  name: string;
}

export type Resolution<B extends NamedBot> =
  { kind: 'one'; bot: B } | { kind: 'many'; candidates: B[] } | { kind: 'none' };

const tokens = (s: string) => s.split(/[\s\-_.]+/).filter(Boolean);

/** Edit distance of at most one (a typo, or a letter misheard). */
function nearlyEqual(a: string, b: string): boolean {
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1 || Math.min(a.length, b.length) < 5) return false;
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}

/**
 * Finds the bot a person meant: by id or name exactly, else every bot whose
 * id and name words hold all the words said ("the analytics bot" →
 * analytics-bot-v1; "analytics v one" → analytics-v1), else the same with one
 * typo per word. Several fits are a question back, never a pick.
 */
export function resolveBot<B extends NamedBot>(said: string, bots: readonly B[]): Resolution<B> {
  const phrase = spokenToId(botWords(normalize(said)));
  if (!phrase) return { kind: 'none' };
  const joined = phrase.replace(/\s+/g, '-');
  const exact = bots.filter(
    (b) => b.id === phrase || b.id === joined || botWords(normalize(b.name)) === phrase || normalize(b.name) === phrase,
  );
  if (exact.length === 1) return { kind: 'one', bot: exact[0]! };
  if (exact.length > 1) return { kind: 'many', candidates: exact };
  const words = tokens(phrase);
  const wordsOf = (b: B) => new Set([...tokens(b.id), ...tokens(spokenToId(botWords(normalize(b.name))))]);
  for (const match of [
    (w: string, own: Set<string>) => own.has(w),
    (w: string, own: Set<string>) => [...own].some((o) => nearlyEqual(w, o)),
  ]) {
    const fits = bots.filter((b) => {
      const own = wordsOf(b);
      return words.every((w) => match(w, own));
    });
    if (fits.length === 1) return { kind: 'one', bot: fits[0]! };
    if (fits.length > 1) return { kind: 'many', candidates: fits };
  }
  return { kind: 'none' };
}
