import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

const redactPaths = [
  'password',
  '*.password',
  'env',
  '*.env',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'DATABASE_URL',
  'REDIS_URL',
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'>, name = 'codex32'): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: { paths: redactPaths, censor: '[redacted]' },
  });
}
