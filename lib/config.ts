import path from 'node:path';
import { z } from 'zod';

const bool = (fallback: boolean) =>
  z
    .preprocess(
      (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
      z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], {
        error: 'must be true or false (also accepted: 1/0, yes/no, on/off)',
      }),
    )
    .default(fallback ? 'true' : 'false')
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

/** A boolean that may be left unset, for settings whose default depends on another one. */
const optionalBool = z
  .preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], {
        error: 'must be true or false (also accepted: 1/0, yes/no, on/off), or unset for the default',
      })
      .optional(),
  )
  .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes', 'on'].includes(v)));

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const positive = (fallback: number) => z.coerce.number().positive().default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/**
 * Every environment variable Codex-32 reads, with its default. `.env.template`
 * lists the same names; `test/config.test.ts` checks that the two agree.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Console logs: pretty (one readable line per event) or json. Unset: pretty on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),

  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0, 'must be 0 (any free port) to 65535').max(65535).default(8000),
  API_SECRET_KEY: optionalText,
  API_ALGORITHM: z.enum(['HS256', 'HS384', 'HS512']).default('HS256'),
  API_ACCESS_TOKEN_EXPIRE_MINUTES: z.coerce.number().int().positive().default(30),
  API_REFRESH_TOKEN_EXPIRE_DAYS: z.coerce.number().int().positive().max(365).default(14),
  API_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().url('each CORS origin is a URL such as https://ops.example.com'))),
  API_PUBLIC_URL: optionalText.pipe(z.string().url('must be an absolute URL such as http://10.0.0.5:8000').optional()),
  ADMIN_API_KEY: optionalText,
  ADMIN_USERNAME: optionalText,
  ADMIN_PASSWORD: optionalText,
  RATE_LIMIT_REQUESTS: z.coerce.number().int().positive().default(100),
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(5),
  LOGIN_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(20),
  LOGIN_FAILURE_WINDOW_MINUTES: z.coerce.number().int().positive().max(1440).default(15),
  /** Unset: credentials are asked for unless the API listens on a loopback address only. */
  METRICS_AUTH: optionalBool,
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.union([z.ipv4(), z.ipv6()], { error: 'each trusted proxy is an IP address' }))),

  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  REDIS_URL: optionalText.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),

  TEMPORAL_ADDRESS: optionalText,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('codex32-bots'),
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  TEMPORAL_UI_URL: z
    .preprocess(
      (v) => (typeof v === 'string' ? v.trim().replace(/\/+$/, '') : v),
      z
        .string()
        .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL, such as https://temporal.example.com'),
    )
    .optional(),

  BOT_RUNTIME: z.enum(['local', 'kubernetes']).default('local'),
  KUBECONFIG: optionalText,
  KUBE_BOTS_NAMESPACE: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
      'must be a Kubernetes namespace name (lowercase letters, digits and "-", at most 63)',
    )
    .default('codex32-bots'),
  KUBE_LAUNCH_TIMEOUT_SECONDS: z.coerce.number().int().min(5).max(3600).default(90),
  WORKER_HEALTH_PORT: optionalText
    .transform((v) => (v === undefined ? undefined : Number(v)))
    .pipe(
      z
        .number({ error: 'must be a port number' })
        .int()
        .min(0, 'must be 0 (any free port) to 65535')
        .max(65535)
        .optional(),
    ),
  BOTS_DIR: z.string().min(1).default('bots'),
  /** The user local bots run as (a name, or uid[:gid]). Unset: codex32-bot when the platform runs as root, else the platform's own user. */
  BOT_USER: optionalText.pipe(
    z
      .string()
      .regex(
        /^(?:[a-z_][a-z0-9_.-]{0,31}\$?|\d+(?::\d+)?)$/,
        'must be a user name (such as codex32-bot) or a numeric uid[:gid] (such as 1500:1500)',
      )
      .optional(),
  ),
  /** Local bots (as BOT_USER) may not connect to Temporal, PostgreSQL or Redis of the platform (nftables). */
  BOT_NETWORK_GUARD: bool(true),
  BOT_STOP_GRACE_SECONDS: positive(10),
  BOT_LOG_MAX_MB: positive(10),
  BOT_LOG_FILES: z.coerce.number().int().min(1).max(100).default(5),
  BOT_SAMPLE_INTERVAL_SECONDS: z.coerce.number().min(0.5).max(300).default(5),
  BOT_SAMPLE_HISTORY_MINUTES: z.coerce.number().int().min(1).max(1440).default(60),
  BOT_METRICS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(14),
  /** Uploaded builds (PUT /api/v1/bots/{id}/artifacts): the largest upload, its most entries, and how many revisions back they are kept. */
  ARTIFACT_MAX_MB: z.coerce.number().min(1).max(2048).default(50),
  ARTIFACT_MAX_FILES: z.coerce.number().int().min(1).max(100_000).default(2000),
  ARTIFACT_KEEP_REVISIONS: z.coerce.number().int().min(1).max(1000).default(10),

  DATA_DIR: z.string().min(1).default('.data'),
  LOGS_DIR: z.string().min(1).default('logs'),
  /** Unpacked builds: outside DATA_DIR (0700), since the bots' user runs what is inside. */
  ARTIFACTS_DIR: z.string().min(1).default('.artifacts'),

  STT_PROVIDER: z.enum(['vosk', 'pocketsphinx']).default('pocketsphinx'),
  VOSK_MODEL_PATH: optionalText,
  ENABLE_CONVERSATIONAL_AI: bool(true),
  ENABLE_VOICE_INPUT: bool(true),
  WS_PING_INTERVAL_SECONDS: z.coerce.number().min(1).max(3600).default(30),
  WS_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
});

export type Config = Omit<z.infer<typeof configSchema>, 'METRICS_AUTH' | 'TEMPORAL_UI_URL'> & {
  /** Resolved: METRICS_AUTH as given, else whether API_HOST is reachable from other machines. */
  METRICS_AUTH: boolean;
  /** Resolved: TEMPORAL_UI_URL as given, else the embedded dev server's UI when TEMPORAL_ADDRESS is unset, else null. */
  TEMPORAL_UI_URL: string | null;
  /** Absolute forms of the directory settings, resolved once against the working directory. */
  paths: {
    botsDir: string;
    dataDir: string;
    logsDir: string;
    botLogsDir: string;
    runDir: string;
    /** Unpacked artifacts, one directory per digest, on this host. */
    artifactsDir: string;
  };
  /** What every bot's environment starts from: enough to find interpreters, never the platform's secrets. */
  botBaseEnv: Record<string, string>;
};

const BOT_BASE_ENV = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix these variables (see .env.template for every name and its default) and start again.`,
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  // An empty value means "not set": the default applies (as in most .env tooling).
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = configSchema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const value = env[name];
        return `${name}=${value === undefined ? '(unset)' : JSON.stringify(redact(name, value))}: ${issue.message}`;
      }),
    );
  }
  const c = parsed.data;
  const dataDir = path.resolve(cwd, c.DATA_DIR);
  const logsDir = path.resolve(cwd, c.LOGS_DIR);
  return {
    ...c,
    METRICS_AUTH: c.METRICS_AUTH ?? !isLoopbackHost(c.API_HOST),
    TEMPORAL_UI_URL: c.TEMPORAL_UI_URL ?? (c.TEMPORAL_ADDRESS ? null : `http://127.0.0.1:${c.TEMPORAL_UI_PORT}`),
    paths: {
      botsDir: path.resolve(cwd, c.BOTS_DIR),
      dataDir,
      logsDir,
      botLogsDir: path.join(logsDir, 'bots'),
      runDir: path.join(dataDir, 'run'),
      artifactsDir: path.resolve(cwd, c.ARTIFACTS_DIR),
    },
    botBaseEnv: Object.fromEntries(BOT_BASE_ENV.flatMap((k) => (env[k] === undefined ? [] : [[k, env[k]!]]))),
  };
}

/** Whether a listen address is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

function redact(name: string, value: string): string {
  return /SECRET|PASSWORD|KEY|DATABASE_URL|REDIS_URL/.test(name) ? '***' : value;
}
