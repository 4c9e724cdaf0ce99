import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Where `name` is, on `searchPath` or in the system directories (root's tools live in sbin); null when nowhere. */
export function findExecutable(name: string, searchPath: string | undefined): string | null {
  for (const dir of [...(searchPath ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
