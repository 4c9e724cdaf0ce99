/**
 * Text the platform takes from callers and bots, and shows back. Three
 * rules, one place:
 * - nothing may hold a NUL or a lone UTF-16 surrogate: PostgreSQL refuses
 *   NUL in text, and a lone surrogate has no UTF-8 form (it would be stored
 *   as U+FFFD, silently changed);
 * - names and ids hold no control characters and no bidirectional
 *   overrides, which make a name look like another (U+202E turns
 *   "evil\u202Etxt.sh" into "evilhs.txt");
 * - free text (a description, a resolution note) keeps them, and every view
 *   shows them as visible escapes instead.
 */

/** C0 controls, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- finding control characters is this module's purpose
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
/** Bidirectional marks, embeddings, overrides and isolates. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const hex = (ch: string) => ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');

/** Why `s` cannot be taken at all (a NUL, a lone surrogate), or null. */
export function unstorableProblem(s: string): string | null {
  const nul = s.indexOf('\0');
  if (nul !== -1) return `holds a NUL character (U+0000) at position ${nul}`;
  const lone = LONE_SURROGATE.exec(s);
  if (lone)
    return `holds a lone UTF-16 surrogate (U+${hex(lone[0])}) at position ${lone.index}, which is not a character`;
  return null;
}

/** Why `s` cannot be a name or an id (control characters, bidirectional overrides), or null. */
export function nameProblem(s: string): string | null {
  const stored = unstorableProblem(s);
  if (stored) return stored;
  const control = CONTROL.exec(s);
  if (control)
    return `holds a control character (U+${hex(control[0])}) at position ${control.index}; names are printable text`;
  const bidi = BIDI.exec(s);
  if (bidi)
    return `holds a bidirectional control (U+${hex(bidi[0])}) at position ${bidi.index}, which can make a name read as another`;
  return null;
}

const SHOWN_ESCAPED =
  // eslint-disable-next-line no-control-regex -- finding control characters is this module's purpose
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `s` as a view shows it: control characters (but newline and tab), bidi
 * controls and lone surrogates become the visible text `\uXXXX`, so what a
 * reader sees is what is stored, in order.
 */
export function escapeForDisplay(s: string): string {
  return s.replace(SHOWN_ESCAPED, (ch) => `\\u${hex(ch)}`);
}

/** `s` made storable in any text column (NUL, lone surrogates and other controls escaped), cut to `max` characters. */
export function storableText(s: string, max = 2000): string {
  const escaped = escapeForDisplay(s);
  if (escaped.length <= max) return escaped;
  // Never cut a surrogate pair in two: its first half alone could not be stored.
  return `${escaped.slice(0, max - 1).replace(/[\ud800-\udbff]$/, '')}…`;
}
