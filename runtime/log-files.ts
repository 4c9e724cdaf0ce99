import path from 'node:path';
import fs from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

/**
 * Bots write straight into their log file (they must not depend on a pipe to
 * the worker, which may die). So rotation copies and truncates: the bot's fd is
 * opened with O_APPEND, and its next write lands at the start of the emptied file.
 */
export async function rotateIfLarge(file: string, maxBytes: number, keep: number): Promise<boolean> {
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch {
    return false;
  }
  if (size < maxBytes) return false;
  for (let i = keep - 1; i >= 1; i--) {
    await fs.rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => undefined);
  }
  await fs.copyFile(file, `${file}.1`);
  await fs.truncate(file, 0);
  await fs.rm(`${file}.${keep + 1}`, { force: true });
  return true;
}

export async function tailLines(file: string, lines: number, maxBytes = 256 * 1024): Promise<string[]> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const all = buffer.toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines);
  } catch {
    return [];
  } finally {
    await handle?.close();
  }
}

/** Where a local bot's output goes (rotated beside it as .1, .2, ...): the one place this path is built. */
export function botLogPath(botLogsDir: string, botId: string): string {
  return path.join(botLogsDir, `${botId}.log`);
}

/**
 * The lines a file gains from now on, as they are written, until `signal`
 * aborts. Read by size every `intervalMs` (inotify misses writes through
 * other mounts and copies-then-truncates): a file that shrank was rotated,
 * and is read again from its start. A partial last line waits for its end.
 */
export async function* followLines(
  file: string,
  signal: AbortSignal,
  intervalMs = 250,
): AsyncGenerator<string[], void, undefined> {
  let offset = await fs
    .stat(file)
    .then((s) => s.size)
    .catch(() => 0);
  let partial = '';
  // A character split between two reads is held, not mangled.
  let decoder = new StringDecoder('utf8');
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    if (signal.aborted) return;
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch {
      continue; // not written yet, or between rotations
    }
    if (size < offset) {
      offset = 0;
      partial = '';
      decoder = new StringDecoder('utf8');
    }
    if (size === offset) continue;
    const handle = await fs.open(file, 'r');
    try {
      // At most 1 MiB a round: a bot that floods its log is followed, not buffered whole.
      const length = Math.min(size - offset, 1024 * 1024);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      offset += bytesRead;
      const text = partial + decoder.write(buffer.subarray(0, bytesRead));
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      if (lines.length > 0) yield lines;
    } finally {
      await handle.close();
    }
  }
}
