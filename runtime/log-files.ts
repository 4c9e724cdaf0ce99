import path from 'node:path';
import fs from 'node:fs/promises';

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
