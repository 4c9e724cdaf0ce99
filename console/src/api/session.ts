import type { components } from './schema';

type TokenPair = components['schemas']['TokenPair'];

export interface Me {
  type: 'user' | 'api-key' | 'bot';
  id: string;
  name: string;
  role: string | null;
  permissions: string[];
}

const REFRESH_KEY = 'codex32.refresh';
/** Renew this long before the access token ends, so no request meets an expired one. */
const EARLY_MS = 60_000;

type Listener = (me: Me | null) => void;

/**
 * Who is signed in. The access token lives in memory only; the refresh token
 * in this tab's sessionStorage, so a reload keeps the session and closing the
 * tab ends it. Tokens are renewed before they expire and once on a 401.
 */
export class Session {
  private access: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private renewing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();
  me: Me | null = null;

  get accessToken(): string | null {
    return this.access;
  }

  has(permission: string): boolean {
    return this.me?.permissions.includes(permission) ?? false;
  }

  onChange(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async login(username: string, password: string): Promise<string | null> {
    const res = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) return problemText(res);
    await this.take((await res.json()) as TokenPair);
    return null;
  }

  /** On load: the refresh token of this tab, if any, signs in again. */
  async resume(): Promise<boolean> {
    if (!sessionStorage.getItem(REFRESH_KEY)) return false;
    return this.renew();
  }

  /** Spends the refresh token for a new pair; false (and signed out) when it is refused. */
  renew(): Promise<boolean> {
    this.renewing ??= (async () => {
      const refresh = sessionStorage.getItem(REFRESH_KEY);
      if (!refresh) return false;
      try {
        const res = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { Authorization: `Bearer ${refresh}` },
        });
        if (!res.ok) {
          this.clear();
          return false;
        }
        await this.take((await res.json()) as TokenPair);
        return true;
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  async logout(): Promise<void> {
    const refresh = sessionStorage.getItem(REFRESH_KEY);
    if (this.access)
      await fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.access}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(refresh ? { refresh_token: refresh } : {}),
      }).catch(() => undefined);
    this.clear();
  }

  private async take(pair: TokenPair): Promise<void> {
    this.access = pair.access_token;
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(), Math.max(5_000, pair.expires_in * 1000 - EARLY_MS));
    // Signing in: what the first page needs can be asked for while the caller's identity is read.
    if (this.me === null) for (const l of this.signInListeners) l();
    const res = await fetch('/api/v1/auth/me', { headers: { Authorization: `Bearer ${pair.access_token}` } });
    const first = this.me === null;
    this.me = res.ok ? ((await res.json()) as Me) : null;
    if (first || !this.me) for (const l of this.listeners) l(this.me);
    else for (const l of this.tokenListeners) l(pair.access_token);
  }

  private signInListeners = new Set<() => void>();
  /** A sign-in has its access token (its identity and permissions are still being read). */
  onSignIn(l: () => void): () => void {
    this.signInListeners.add(l);
    return () => this.signInListeners.delete(l);
  }

  private tokenListeners = new Set<(token: string) => void>();
  /** A fresh access token: the socket hands it over to stay connected. */
  onToken(l: (token: string) => void): () => void {
    this.tokenListeners.add(l);
    return () => this.tokenListeners.delete(l);
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.access = null;
    sessionStorage.removeItem(REFRESH_KEY);
    const was = this.me;
    this.me = null;
    if (was) for (const l of this.listeners) l(null);
  }
}

/** The problem's words (detail and next steps), from an error response. */
export async function problemText(res: Response): Promise<string> {
  try {
    const p = (await res.json()) as { detail?: string; next_steps?: string[] };
    return [p.detail ?? `${res.status} ${res.statusText}`, ...(p.next_steps ?? [])].join(' ');
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}

export const session = new Session();
