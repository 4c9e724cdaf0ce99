import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

const PR_SET_DUMPABLE = 4;

/**
 * Marks this process not dumpable (prctl PR_SET_DUMPABLE 0): its
 * /proc/<pid>/environ, mem, maps and fds are then root's alone, and no
 * process of the same user may ptrace it. When bots run as the platform's
 * own user (the platform is not root), this is what keeps them from reading
 * the platform's secrets out of its memory and environment. It also turns
 * off core dumps of the platform, which would hold the same secrets.
 * Returns why it could not, or null.
 */
export function makeUndumpable(): string | null {
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    const prctl = koffi
      .load('libc.so.6')
      .func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) === 0 ? null : 'prctl(PR_SET_DUMPABLE) failed';
  } catch (err) {
    return (err as Error).message;
  }
}
