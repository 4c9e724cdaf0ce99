import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliExit, EXIT } from './exit-codes.js';

/** Where `codex32 login` keeps its tokens: the user's alone (0600). */
export function credentialsFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'codex32', 'credentials.json');
}

export interface StoredLogin {
  url: string;
  username: string;
  access_token: string;
  refresh_token: string;
}

/** How the CLI reaches the platform: CODEX32_URL, and CODEX32_API_KEY or the tokens of `codex32 login`. */
export interface Settings {
  url: string;
  apiKey: string | null;
  login: StoredLogin | null;
  credentialsPath: string;
  /** Plain lines (CI, a pipe) instead of a spinner. */
  interactive: boolean;
  env: NodeJS.ProcessEnv;
}

/** The one place the CLI reads its environment. */
export async function readSettings(env: NodeJS.ProcessEnv, stderrIsTty: boolean): Promise<Settings> {
  const credentialsPath = credentialsFile(env);
  const login = await readLogin(credentialsPath);
  const url = (env.CODEX32_URL || login?.url || 'http://127.0.0.1:8000').replace(/\/+$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new CliExit(EXIT.refused, `CODEX32_URL=${url} is not an http(s) address (e.g. https://codex32.example.com).`);
  }
  return {
    url,
    apiKey: env.CODEX32_API_KEY?.trim() || null,
    login: login && login.url === url ? login : null,
    credentialsPath,
    interactive: stderrIsTty && !env.CI,
    env,
  };
}

async function readLogin(file: string): Promise<StoredLogin | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<StoredLogin>;
    if (parsed.url && parsed.access_token && parsed.refresh_token && parsed.username) return parsed as StoredLogin;
    return null;
  } catch {
    return null;
  }
}

export async function saveLogin(file: string, login: StoredLogin): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(temp, file);
}
