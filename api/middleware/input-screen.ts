import type { MiddlewareHandler } from 'hono';
import { nameProblem, unstorableProblem } from '../../lib/safe-text.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../views/problem.js';

/** The request headers the API reads as text (X-Request-Id is replaced when it is not plain: see hono/request-id). */
const HEADERS_READ = [
  'authorization',
  'x-api-key',
  'x-forwarded-for',
  'content-type',
  'sec-websocket-protocol',
  'x-filename',
  'idempotency-key',
];

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type Found = { path: string; message: string };

/**
 * Refuses (422) a request holding text no route could take safely, before
 * any route or query runs: a NUL or a lone surrogate anywhere in the body
 * (keys too, and no key may be "__proto__", which a parser drops without a
 * word), and control characters in the path, the query string or a
 * header the API reads (none of them has a use for one). Routes then see
 * only text PostgreSQL can store as given; what a route allows beyond that
 * (descriptions keep tabs and newlines) its schema says.
 */
export function screenInput(): MiddlewareHandler<AppEnv> {
  return async function screenInputHandler(c, next) {
    const found: Found[] = [];
    const url = c.req.url;
    const queryStart = url.indexOf('?');
    const pathname = new URL(url).pathname;
    for (const segment of pathname.split('/')) screenEncoded(segment, 'path', false, found);
    if (queryStart !== -1) {
      for (const pair of url.slice(queryStart + 1).split('&')) {
        const [key = '', value = ''] = splitOnce(pair, '=');
        const name = decoded(key, true) ?? 'parameter';
        screenEncoded(key, 'query', true, found);
        screenEncoded(value, `query.${name}`, true, found);
      }
    }
    for (const header of HEADERS_READ) {
      const value = c.req.header(header);
      const problem = value === undefined ? null : nameProblem(value.replace(/\t/g, ' '));
      if (problem) found.push({ path: `header ${header}`, message: problem });
    }
    if (BODY_METHODS.has(c.req.method) && c.req.raw.body && /json/i.test(c.req.header('Content-Type') ?? '')) {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        body = undefined; // malformed: the route's validator says so
      }
      screenJson(body, 'body', found);
    }
    if (found.length > 0) {
      const summary = found.map((f) => `${f.path}: ${f.message}`).join('; ');
      throw new ApiError(
        422,
        'invalid-text',
        'Invalid characters',
        `The request holds characters no field can take: ${summary}. Send plain text (no NUL bytes, no lone surrogates, no control characters outside free-text fields). Nothing was changed.`,
        found,
      );
    }
    await next();
  };
}

function splitOnce(s: string, sep: string): [string, string] {
  const at = s.indexOf(sep);
  return at === -1 ? [s, ''] : [s.slice(0, at), s.slice(at + 1)];
}

function decoded(raw: string, plusIsSpace: boolean): string | null {
  try {
    return decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return null;
  }
}

function screenEncoded(raw: string, where: string, plusIsSpace: boolean, found: Found[]): void {
  const text = decoded(raw, plusIsSpace);
  if (text === null) {
    found.push({ path: where, message: 'is not valid percent-encoded UTF-8' });
    return;
  }
  const problem = nameProblem(text);
  if (problem) found.push({ path: where, message: problem });
}

/** Every string and key of a parsed JSON body, to a depth past which the route's own limits refuse anyway. */
function screenJson(value: unknown, where: string, found: Found[], depth = 0): void {
  if (found.length >= 10 || depth > 64) return;
  if (typeof value === 'string') {
    const problem = unstorableProblem(value);
    if (problem) found.push({ path: where, message: problem });
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => screenJson(item, `${where}.${i}`, found, depth + 1));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem =
        key === '__proto__'
          ? 'is "__proto__", which names the prototype of every JavaScript object: it would be dropped, not taken'
          : unstorableProblem(key);
      const shownKey = unstorableProblem(key) ? '(a key)' : key;
      if (keyProblem) found.push({ path: `${where}.${shownKey}`, message: `the name ${keyProblem}` });
      screenJson(item, `${where}.${shownKey}`, found, depth + 1);
    }
  }
}
