import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { BotStatus, DesiredState, HealPolicy, HealthThresholds } from '../lib/bot-status.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp column with a database default. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface BotsTable {
  id: string;
  name: string;
  description: string;
  role: string;
  blueprint: string | null;
  image: string | null;
  args: Json<string[]>;
  env: Json<Record<string, string>>;
  resources: Json<{ memory_limit_mb?: number; cpu_limit?: number }>;
  heal_policy: Json<HealPolicy>;
  heartbeat_interval_seconds: number | null;
  /** Absent keys take DEFAULT_HEALTH_THRESHOLDS. */
  health_rules: ColumnType<Partial<HealthThresholds>, string | undefined, string>;
  status: BotStatus;
  desired_state: DesiredState;
  status_reason: string | null;
  restart_count: Generated<number>;
  current_instance_id: string | null;
  /** The revision the spec columns hold now (bot_revisions). */
  revision: ColumnType<number, number | undefined, number>;
  /** An uploaded build (artifacts.digest) and the file of it that runs: the local runtime's other source besides a blueprint. */
  artifact: string | null;
  entrypoint: string | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface InstancesTable {
  id: string;
  bot_id: string;
  runtime: string;
  host: string;
  pid: number | null;
  process_start_ticks: string | null;
  log_path: string | null;
  started_at: DefaultTimestamp;
  ended_at: Timestamp | null;
  exit_code: number | null;
  exit_signal: string | null;
  end_reason: string | null;
  /** The bot's revision this instance ran (null for instances from before revisions). */
  revision: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface IncidentsTable {
  id: string;
  bot_id: string;
  instance_id: string | null;
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  evidence: Json<Record<string, unknown>>;
  outcome: string | null;
  created_at: DefaultTimestamp;
  resolved_at: Timestamp | null;
  acknowledged_at: Timestamp | null;
  acknowledged_by: string | null;
  resolved_by: string | null;
  /** What the person who resolved it said. */
  resolution: string | null;
}

export interface UsersTable {
  /** Immutable: what tokens name. A user name can be deleted and taken again; an id never comes back. */
  id: Generated<string>;
  username: string;
  password_hash: string;
  role: 'admin' | 'operator' | 'viewer' | 'user';
  disabled: ColumnType<boolean, boolean | undefined, boolean>;
  token_version: ColumnType<number, number | undefined, number>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface RefreshTokensTable {
  jti: string;
  family_id: string;
  username: string;
  issued_at: DefaultTimestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  prefix: string;
  key_hash: string;
  role: string | null;
  permissions: ColumnType<string[] | null, string | null, string | null>;
  /** The bots a key may act on (null: every bot its permissions reach). */
  bots: ColumnType<string[] | null, string | null | undefined, string | null>;
  created_by: string;
  created_at: DefaultTimestamp;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AuditLogTable {
  id: string;
  at: DefaultTimestamp;
  actor: string;
  actor_type: string;
  action: string;
  target: string | null;
  result: string;
  status: number | null;
  ip: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
}

/** A bot's runnable spec, as a revision keeps it (env with its values: a rollback applies them again). */
export interface RevisionSpec {
  blueprint: string | null;
  image: string | null;
  artifact: string | null;
  entrypoint: string | null;
  args: string[];
  env: Record<string, string>;
  resources: { memory_limit_mb?: number; cpu_limit?: number };
}

export type RevisionSource = 'create' | 'patch' | 'deployment' | 'rollback';

export interface BotRevisionsTable {
  bot_id: string;
  revision: number;
  spec: Json<RevisionSpec>;
  source: RevisionSource;
  deployment_id: string | null;
  /** For a rollback: the revision whose spec this one restores. */
  restores: number | null;
  passed_gate: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: DefaultTimestamp;
  created_by: string;
}

export interface DeploymentStep {
  phase: string;
  at: string;
  detail: string;
}

export interface DeploymentsTable {
  id: string;
  bot_id: string;
  /** What CI deployed: a commit, tag or build number. */
  ref: string | null;
  /** The spec fields the deployment changed (names only: env values stay write-only). */
  changes: Json<string[]>;
  /** Deployments from before phases: what the workflow was asked, and whether it took it. */
  action: 'start' | 'restart' | null;
  result: 'accepted' | 'rejected' | null;
  reason: string | null;
  requested_by: string;
  created_at: DefaultTimestamp;
  phase: ColumnType<string, string | undefined, string>;
  revision: number | null;
  previous_revision: number | null;
  rollback_revision: number | null;
  steps: ColumnType<DeploymentStep[], string | undefined, string>;
  outcome: string | null;
  /** The gate and the choices the request made (health_gate, auto_rollback, start_if_stopped). */
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  idempotency_key: string | null;
  request_hash: string | null;
  /** Why it failed, as the deployment_failed incident says: the rule, exit codes, last log lines. */
  evidence: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  finished_at: Timestamp | null;
}

export interface ArtifactsTable {
  /** sha256:<hex> of the upload as sent (a single file: of its name, a NUL, then its bytes). */
  digest: string;
  /** How it came: a .tar.gz, or a single file with its name. */
  kind: 'tar.gz' | 'file';
  filename: string | null;
  size: ColumnType<string, number | string, number | string>;
  files: Json<Array<{ path: string; type: string; mode: number; size: number }>>;
  content: Buffer;
  /** The bot it was uploaded for (the same bytes for another bot share the row). */
  bot_id: string;
  created_by: string;
  created_at: DefaultTimestamp;
}

export interface BotMetricsMinuteTable {
  bot_id: string;
  /** The start of the minute. */
  minute: Timestamp;
  samples: number;
  cpu_avg: number;
  cpu_max: number;
  memory_avg_mb: number;
  memory_max_mb: number;
  /** At the last sample of the minute. */
  uptime_seconds: number;
  /** Samples that had an error rate (from the bot's heartbeats), and its average and maximum over them. */
  error_samples: Generated<number>;
  error_rate_avg: number | null;
  error_rate_max: number | null;
}

export interface BotHeartbeatsTable {
  bot_id: string;
  /** The instance that sent the last heartbeat: a new instance starts over. */
  instance_id: string;
  first_at: Timestamp;
  last_at: Timestamp;
  beats: number;
  /** Totals for this instance, from the counters heartbeats carry. */
  requests: ColumnType<string, number | string, number | string>;
  errors: ColumnType<string, number | string, number | string>;
  /** errors / requests of the last heartbeat that counted requests. */
  error_rate: number | null;
  gauges: Json<Record<string, number>>;
}

export interface Database {
  bots: BotsTable;
  instances: InstancesTable;
  incidents: IncidentsTable;
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  deployments: DeploymentsTable;
  bot_revisions: BotRevisionsTable;
  artifacts: ArtifactsTable;
  bot_metrics_minute: BotMetricsMinuteTable;
  bot_heartbeats: BotHeartbeatsTable;
}

export type BotRow = Selectable<BotsTable>;
export type NewBot = Insertable<BotsTable>;
export type BotUpdate = Updateable<BotsTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type NewInstance = Insertable<InstancesTable>;
export type IncidentRow = Selectable<IncidentsTable>;
export type UserRow = Selectable<UsersTable>;
export type NewIncident = Insertable<IncidentsTable>;
export type DeploymentRow = Selectable<DeploymentsTable>;
export type RevisionRow = Selectable<BotRevisionsTable>;
