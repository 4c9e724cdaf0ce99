import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../lib/logger.js';

/**
 * API_SECRET_KEY when set. Otherwise a key generated once and kept in the data
 * directory (mode 0600), so tokens survive a restart of the embedded setup;
 * several API replicas must share API_SECRET_KEY instead.
 */
export async function resolveSecretKey(
  configured: string | undefined,
  dataDir: string,
  logger: Logger,
): Promise<string> {
  if (configured) return configured;
  const file = path.join(dataDir, 'secret.key');
  try {
    const existing = (await fs.readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch {
    // not created yet
  }
  const key = randomBytes(32).toString('hex');
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(file, key + '\n', { mode: 0o600 });
  logger.warn(
    { file },
    'API_SECRET_KEY is not set: generated a signing key in the data directory; set API_SECRET_KEY when running several API processes',
  );
  return key;
}
