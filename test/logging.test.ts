import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { RotatingFile } from '../lib/rotating-file.js';

describe('log files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-logs-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes JSON to codex32.log and errors also to codex32_errors.log, with secrets redacted', async () => {
    const logger = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'production', paths: { logsDir: dir } });
    logger.info({ password: 'hunter2', botId: 'b1' }, 'hello');
    logger.error({ refresh_token: 'rt-secret' }, 'boom');
    const all = (await fs.readFile(path.join(dir, 'codex32.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all.map((l) => l.msg)).toEqual(['hello', 'boom']);
    expect(all[0]).toMatchObject({ botId: 'b1', password: '[redacted]' });
    const errors = (await fs.readFile(path.join(dir, 'codex32_errors.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((l) => l.msg)).toEqual(['boom']);
    expect(JSON.stringify([...all, ...errors])).not.toMatch(/hunter2|rt-secret/);
  });

  it('rotates by size and keeps a fixed number of files', async () => {
    const file = path.join(dir, 'rot.log');
    const f = new RotatingFile(file, 100, 3);
    for (let i = 0; i < 20; i++) f.write(`${String(i).padStart(2, '0')}${'x'.repeat(38)}\n`);
    f.close();
    const names = (await fs.readdir(dir)).filter((n) => n.startsWith('rot.log')).sort();
    expect(names).toEqual(['rot.log', 'rot.log.1', 'rot.log.2', 'rot.log.3']);
    for (const n of names) expect((await fs.stat(path.join(dir, n))).size).toBeLessThanOrEqual(100);
    expect((await fs.readFile(file, 'utf8')).startsWith('18')).toBe(true);
    expect((await fs.readFile(`${file}.1`, 'utf8')).startsWith('16')).toBe(true);
  });
});
