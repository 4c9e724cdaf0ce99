import createClient from 'openapi-fetch';
import type { components, paths } from './schema';
import { session } from './session';

export type Bot = components['schemas']['Bot'];
export type Problem = components['schemas']['Problem'];

/** fetch with the session's access token; a 401 renews the token once and tries again. */
async function authedFetch(input: Request): Promise<Response> {
  const send = (token: string | null) => {
    const request = input.clone();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return fetch(request);
  };
  const res = await send(session.accessToken);
  if (res.status !== 401 || !(await session.renew())) return res;
  return send(session.accessToken);
}

/** The API, typed from its OpenAPI document (schema.d.ts is generated from it at build time). */
export const api = createClient<paths>({ baseUrl: location.origin, fetch: authedFetch });

/** A problem's words for people: what went wrong, then what to do. */
export function problemWords(error: unknown, fallback = 'The request failed.'): string {
  const p = error as Partial<Problem> | undefined;
  if (!p || typeof p !== 'object') return fallback;
  return [p.detail ?? p.title ?? fallback, ...(p.next_steps ?? [])].join(' ');
}
