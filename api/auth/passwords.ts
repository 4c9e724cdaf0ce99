import { hash, verify } from '@node-rs/argon2';

/** argon2id with the OWASP-recommended floor (19 MiB, 2 passes); the library's defaults are exactly that. */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/**
 * A hash to verify against when the user does not exist, so that a wrong user
 * name costs as much time as a wrong password and names cannot be probed.
 */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hash('codex32 decoy password, never valid');
  return decoy;
}

const MIN_LENGTH = 12;
const MAX_LENGTH = 256;

/** Returns what is wrong with a password, or null when it is acceptable. */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < MIN_LENGTH) return `the password must be at least ${MIN_LENGTH} characters long`;
  if (password.length > MAX_LENGTH) return `the password must be at most ${MAX_LENGTH} characters long`;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 3)
    return 'the password must mix at least three of: lowercase letters, uppercase letters, digits, symbols';
  if (new Set(password).size < 6) return 'the password repeats too few distinct characters';
  if (username && password.toLowerCase().includes(username.toLowerCase()))
    return 'the password must not contain the user name';
  return null;
}
