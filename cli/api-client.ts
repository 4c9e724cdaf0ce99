import createClient, { type Client } from 'openapi-fetch';
// The API's own OpenAPI document, as types (generated at build time; the console reads the same file).
import type { components, paths } from '../console/src/api/schema.js';
import { CliExit, EXIT } from './exit-codes.js';
import { saveLogin, type Settings } from './settings.js';

export type Deployment = components['schemas']['Deployment'];
export type Problem = components['schemas']['Problem'];
export type Api = Client<paths>;

/**
 * The CLI's one client of the API: typed paths and bodies, the caller's
 * credentials on every request (an API key, or the login's access token,
 * renewed once on a 401).
 */
export function createApi(settings: Settings): Api {
  let login = settings.login;
  const send = (request: Request) => {
    const r = request.clone();
    if (settings.apiKey) r.headers.set('X-API-Key', settings.apiKey);
    else if (login) r.headers.set('Authorization', `Bearer ${login.access_token}`);
    r.headers.set('User-Agent', 'codex32-cli');
    return fetch(r);
  };
  const authedFetch = async (request: Request): Promise<Response> => {
    let res: Response;
    try {
      res = await send(request);
    } catch (err) {
      throw new CliExit(
        EXIT.refused,
        `Cannot reach ${settings.url} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}). Check CODEX32_URL and that the platform runs.`,
      );
    }
    if (res.status !== 401 || settings.apiKey || !login) return res;
    const renewed = await fetch(`${settings.url}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: login.refresh_token }),
    });
    if (!renewed.ok) return res;
    const tokens = (await renewed.json()) as { access_token: string; refresh_token: string };
    login = { ...login, ...tokens };
    await saveLogin(settings.credentialsPath, login);
    return send(request);
  };
  return createClient<paths>({ baseUrl: settings.url, fetch: authedFetch });
}

/** Headers for a request made with fetch itself (streams, uploads): the same credentials. */
export function authHeaders(settings: Settings): Record<string, string> {
  if (settings.apiKey) return { 'X-API-Key': settings.apiKey };
  if (settings.login) return { Authorization: `Bearer ${settings.login.access_token}` };
  return {};
}

/** A problem answer as the exit it means: 401/403 authentication, anything else refused; with the API's words. */
export function refusal(status: number, problem: unknown, what: string): CliExit {
  const p = (problem ?? {}) as Partial<Problem>;
  const words = [p.detail ?? p.title ?? `HTTP ${status}`, ...(p.next_steps ?? [])].join(' ');
  if (status === 401)
    return new CliExit(EXIT.auth, `${what}: not authenticated (${words}). Set CODEX32_API_KEY, or run codex32 login.`);
  if (status === 403) return new CliExit(EXIT.auth, `${what}: not permitted. ${words}`);
  return new CliExit(EXIT.refused, `${what}: ${words}`);
}

/** The body of a successful answer, or the exit its problem means. */
export function answer<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  throw refusal(result.response.status, result.error, what);
}
