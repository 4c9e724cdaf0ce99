import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, loadConfig } from '../lib/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cwd = path.join(path.sep, 'srv', 'codex32');

/** The problems loadConfig reports for this environment; fails the test if it does not throw a ConfigError. */
function configErrorFor(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** `.env.template` as NAME -> value, in file order; comments and blank lines skipped. */
function readTemplate(): Map<string, string> {
  const entries = new Map<string, string>();
  const text = readFileSync(path.join(root, '.env.template'), 'utf8');
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`.env.template line ${i + 1} is not NAME=value: ${raw}`);
    const [, name, value] = match as unknown as [string, string, string];
    if (entries.has(name)) throw new Error(`.env.template names ${name} twice`);
    entries.set(name, value);
  }
  return entries;
}

describe('loadConfig defaults', () => {
  const config = loadConfig({}, cwd);

  it('gives the documented defaults for an empty environment', () => {
    expect(config.API_HOST).toBe('127.0.0.1');
    expect(config.API_PORT).toBe(8000);
    expect(config.API_ALGORITHM).toBe('HS256');
    expect(config.API_ACCESS_TOKEN_EXPIRE_MINUTES).toBe(30);
    expect(config.API_MAX_BODY_BYTES).toBe(65536);
    expect(config.RATE_LIMIT_REQUESTS).toBe(100);
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
    expect(config.TEMPORAL_TASK_QUEUE).toBe('codex32-bots');
    expect(config.TEMPORAL_DEV_PORT).toBe(7233);
    expect(config.TEMPORAL_UI_PORT).toBe(8233);
    expect(config.BOT_RUNTIME).toBe('local');
    expect(config.BOT_STOP_GRACE_SECONDS).toBe(10);
    expect(config.BOT_LOG_MAX_MB).toBe(10);
    expect(config.BOT_LOG_FILES).toBe(5);
    expect(config.STT_PROVIDER).toBe('pocketsphinx');
    expect(config.ENABLE_CONVERSATIONAL_AI).toBe(true);
    expect(config.ENABLE_VOICE_INPUT).toBe(true);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.NODE_ENV).toBe('development');
  });

  it('leaves the optional connections and secrets unset, so the embedded defaults run', () => {
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.TEMPORAL_ADDRESS).toBeUndefined();
    expect(config.API_SECRET_KEY).toBeUndefined();
    expect(config.ADMIN_API_KEY).toBeUndefined();
    expect(config.ADMIN_USERNAME).toBeUndefined();
    expect(config.ADMIN_PASSWORD).toBeUndefined();
  });

  it('resolves the directories to absolute paths against the working directory', () => {
    expect(path.isAbsolute(config.paths.botsDir)).toBe(true);
    expect(config.paths.botsDir.endsWith(`${path.sep}bots`)).toBe(true);
    expect(config.paths.botsDir).toBe(path.join(cwd, 'bots'));
    expect(config.paths.dataDir).toBe(path.join(cwd, '.data'));
    expect(config.paths.logsDir).toBe(path.join(cwd, 'logs'));
    expect(config.paths.botLogsDir).toBe(path.join(cwd, 'logs', 'bots'));
    expect(config.paths.runDir).toBe(path.join(cwd, '.data', 'run'));
  });

  it('resolves BOTS_DIR to an absolute path ending in /bots with the default working directory too', () => {
    const botsDir = loadConfig({}).paths.botsDir;
    expect(path.isAbsolute(botsDir)).toBe(true);
    expect(botsDir.endsWith(`${path.sep}bots`)).toBe(true);
  });

  it('treats empty optional values as unset', () => {
    const c = loadConfig({ DATABASE_URL: '', REDIS_URL: ' ', TEMPORAL_ADDRESS: '', ADMIN_PASSWORD: '' }, cwd);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.TEMPORAL_ADDRESS).toBeUndefined();
    expect(c.ADMIN_PASSWORD).toBeUndefined();
  });
});

describe('loadConfig values', () => {
  it('coerces numbers, booleans and keeps URLs', () => {
    const c = loadConfig(
      {
        API_PORT: '9100',
        BOT_STOP_GRACE_SECONDS: '2.5',
        ENABLE_VOICE_INPUT: 'false',
        ENABLE_CONVERSATIONAL_AI: 'off',
        DATABASE_URL: 'postgresql://codex:pw@db:5432/codex32',
        REDIS_URL: 'rediss://cache:6380',
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        BOT_RUNTIME: 'kubernetes',
      },
      cwd,
    );
    expect(c.API_PORT).toBe(9100);
    expect(c.BOT_STOP_GRACE_SECONDS).toBe(2.5);
    expect(c.ENABLE_VOICE_INPUT).toBe(false);
    expect(c.ENABLE_CONVERSATIONAL_AI).toBe(false);
    expect(c.DATABASE_URL).toBe('postgresql://codex:pw@db:5432/codex32');
    expect(c.REDIS_URL).toBe('rediss://cache:6380');
    expect(c.TEMPORAL_ADDRESS).toBe('temporal.internal:7233');
    expect(c.BOT_RUNTIME).toBe('kubernetes');
  });

  it('accepts 1/0, yes/no and on/off for booleans', () => {
    for (const [value, expected] of [
      ['1', true],
      ['0', false],
      ['yes', true],
      ['no', false],
      ['on', true],
      ['off', false],
    ] as const) {
      expect(loadConfig({ ENABLE_VOICE_INPUT: value }, cwd).ENABLE_VOICE_INPUT).toBe(expected);
    }
  });

  it('resolves a relative BOTS_DIR against the working directory and keeps an absolute one', () => {
    expect(loadConfig({ BOTS_DIR: 'fleet/scripts' }, cwd).paths.botsDir).toBe(path.join(cwd, 'fleet', 'scripts'));
    const absolute = path.join(path.sep, 'opt', 'bots');
    expect(loadConfig({ BOTS_DIR: absolute }, cwd).paths.botsDir).toBe(absolute);
  });

  it('gives bots only the base environment, never the platform secrets', () => {
    const c = loadConfig(
      {
        PATH: '/usr/bin:/bin',
        HOME: '/root',
        DATABASE_URL: 'postgres://u:pw@db/x',
        ADMIN_PASSWORD: 'pw',
        API_SECRET_KEY: 'k',
      },
      cwd,
    );
    expect(c.botBaseEnv).toEqual({ PATH: '/usr/bin:/bin', HOME: '/root' });
  });
});

describe('loadConfig rejects bad values', () => {
  it.each([
    ['API_PORT', 'abc'],
    ['API_PORT', '70000'],
    ['BOT_RUNTIME', 'docker'],
    ['ENABLE_VOICE_INPUT', 'maybe'],
    ['ENABLE_CONVERSATIONAL_AI', 'TRUE!'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://cache:6379'],
    ['TEMPORAL_DEV_PORT', '0'],
    ['API_ALGORITHM', 'none'],
    ['STT_PROVIDER', 'whisper'],
    ['LOG_LEVEL', 'verbose'],
    ['BOT_STOP_GRACE_SECONDS', '-1'],
    ['BOT_LOG_FILES', '0'],
    ['API_MAX_BODY_BYTES', '10'],
  ])('%s=%s throws a ConfigError naming the variable', (name, value) => {
    const err = configErrorFor({ [name]: value });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toMatch(new RegExp(`^\\s+- ${name}=`, 'm'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^${name}=`));
    expect(err.message).toContain('.env.template');
  });

  it('reports every bad variable at once', () => {
    const err = configErrorFor({
      API_PORT: 'abc',
      BOT_RUNTIME: 'docker',
      ENABLE_VOICE_INPUT: 'maybe',
      DATABASE_URL: 'mysql://x',
    });
    expect(err.problems.map((p) => p.split('=')[0]).sort()).toEqual([
      'API_PORT',
      'BOT_RUNTIME',
      'DATABASE_URL',
      'ENABLE_VOICE_INPUT',
    ]);
  });

  it('shows ordinary values, so the operator sees what was wrong', () => {
    const err = configErrorFor({ BOT_RUNTIME: 'docker' });
    expect(err.message).toContain('BOT_RUNTIME="docker"');
  });

  it('redacts secrets from the message', () => {
    const err = configErrorFor({
      DATABASE_URL: 'mysql://admin:hunter2-db@db.internal/codex',
      REDIS_URL: 'http://:hunter2-redis@cache.internal:6379',
    });
    expect(err.message).toContain('DATABASE_URL=');
    expect(err.message).toContain('REDIS_URL=');
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('db.internal');
    expect(err.message).not.toContain('cache.internal');
    expect(err.message).toContain('***');
  });
});

describe('.env.template', () => {
  const template = readTemplate();

  it('lists exactly the variables of the config schema', () => {
    expect([...template.keys()].sort()).toEqual(Object.keys(configSchema.shape).sort());
  });

  it('gives each variable its default: the template parses to the same config as an empty environment', () => {
    const fromTemplate = loadConfig(Object.fromEntries(template), cwd);
    expect(fromTemplate).toEqual(loadConfig({}, cwd));
  });
});
