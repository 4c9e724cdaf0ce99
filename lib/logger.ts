import { createRequire } from 'node:module';
import path from 'node:path';
import { pino, type Logger, type StreamEntry } from 'pino';
import type { Config } from './config.js';
import { RotatingFile } from './rotating-file.js';

export type { Logger };

const redactPaths = [
  'password',
  '*.password',
  'env',
  '*.env',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'access_token',
  'refresh_token',
  'key',
  'DATABASE_URL',
  'REDIS_URL',
];

export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_FILES_KEPT = 5;

/**
 * One readable line per event on a terminal (pino-pretty, a dev dependency,
 * so `npm start` from a clone has it), JSON when the output is not a
 * terminal or LOG_FORMAT=json; LOG_FORMAT=pretty asks for lines anywhere.
 */
function consoleStream(format: 'pretty' | 'json' | undefined): NodeJS.WritableStream {
  if (format === 'pretty' || (format === undefined && process.stdout.isTTY)) {
    try {
      const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => NodeJS.WritableStream;
      return pretty({ sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    } catch {
      // a production install without dev dependencies: JSON it is
    }
  }
  return process.stdout;
}

/**
 * Logs on stdout (see consoleStream), and, when a logs
 * directory is given, in `codex32.log` and `codex32_errors.log` (errors
 * only), each rotated at 10 MB with 5 files kept. Secrets are redacted.
 */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'> & { LOG_FORMAT?: Config['LOG_FORMAT']; paths?: { logsDir: string } },
  name = 'codex32',
): Logger {
  const level = config.LOG_LEVEL;
  if (level === 'silent') return pino({ name, level });
  const streams: StreamEntry[] = [{ level, stream: consoleStream(config.LOG_FORMAT) }];
  if (config.paths?.logsDir) {
    streams.push({
      level,
      stream: new RotatingFile(path.join(config.paths.logsDir, 'codex32.log'), LOG_FILE_MAX_BYTES, LOG_FILES_KEPT),
    });
    streams.push({
      level: 'error',
      stream: new RotatingFile(
        path.join(config.paths.logsDir, 'codex32_errors.log'),
        LOG_FILE_MAX_BYTES,
        LOG_FILES_KEPT,
      ),
    });
  }
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' } }, pino.multistream(streams));
}
