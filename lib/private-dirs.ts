import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { Logger } from './logger.js';

/**
 * Makes the platform's own directories (data: the database, the signing
 * key, Temporal's state; logs) its alone, 0700: bots run as another user
 * and must not read them. A directory someone else owns is left as it is,
 * with a warning when others can read it.
 */
export function keepPrivate(dirs: string[], logger: Logger): void {
  const me = process.getuid?.();
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if ((st.mode & 0o077) === 0) continue;
    if (st.uid === me) chmodSync(dir, 0o700);
    else
      logger.warn(
        { dir, owner: st.uid, mode: (st.mode & 0o777).toString(8) },
        'this platform directory belongs to another user and others can read it: bots may read it too; make it 0700',
      );
  }
}
