import { createInterface } from 'node:readline/promises';
import { answer } from '../api-client.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { saveLogin } from '../settings.js';
import type { Io } from './deploy.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks without echoing what is typed. */
async function prompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput.bind(rl);
  let asked = false;
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (!asked) write(s);
  };
  const pending = rl.question(question);
  asked = true;
  const answer = await pending;
  rl.close();
  process.stderr.write('\n');
  return answer;
}

/** Signs in as a user; the tokens are kept for the next commands (CODEX32_API_KEY, when set, wins). */
export async function login(o: { username: string; passwordStdin?: boolean }, io: Io): Promise<CliExit> {
  const password = o.passwordStdin
    ? await readStdin()
    : process.stdin.isTTY
      ? await prompt(`Password for ${o.username} at ${io.settings.url}: `)
      : null;
  if (!password)
    throw new CliExit(
      EXIT.refused,
      'Give the password on a terminal, or with --password-stdin (e.g. echo "$PW" | codex32 login ...).',
    );
  const tokens = answer(
    await io.api.POST('/api/v1/auth/login', { body: { username: o.username, password } }),
    `signing in as ${o.username}`,
  );
  await saveLogin(io.settings.credentialsPath, {
    url: io.settings.url,
    username: o.username,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
  });
  return new CliExit(
    EXIT.ok,
    `Signed in to ${io.settings.url} as ${o.username} (kept in ${io.settings.credentialsPath}).`,
  );
}
