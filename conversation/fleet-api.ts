import type { BotView } from '../lib/bot-spec.js';
import type { BotStatus } from '../lib/bot-status.js';
import type { Permission } from '../lib/permissions.js';
import type { NamedBot } from './bot-names.js';

/** What the chat can ask of the fleet: each is one route of the REST API. */
export type FleetAction =
  | 'start'
  | 'stop'
  | 'restart'
  | 'delete'
  | 'status'
  | 'list'
  | 'doing'
  | 'logs'
  | 'incidents'
  | 'deploy_status'
  | 'rollback';

/** A deployment as the chat tells it. */
export interface DeploymentSummary {
  id: string;
  bot_id: string;
  phase: string;
  revision: number | null;
  rollback_revision: number | null;
  ref: string | null;
  reason: string | null;
  steps: Array<{ phase: string; at: string; detail: string }>;
  created_at: string;
}

/** The API's answer: what was asked for, or its refusal (the status, and the problem's detail, which says what to do). */
export type Answer<T> = { ok: true; value: T } | { ok: false; status: number; detail: string };

export interface IncidentSummary {
  id: string;
  bot_id: string;
  kind: string;
  state: string;
  message: string;
  created_at: string;
}

/**
 * The fleet as the chat reaches it: through the REST API, with the caller's
 * own credentials (so every command goes through the routes' validation,
 * permissions, limits and audit trail). The one place the chat's routes,
 * paths and answer shapes are known is the implementation (api/fleet-client.ts).
 */
export interface FleetApi {
  /** The permission an action needs: that of the route it calls, read from the routes' own declarations. */
  needs(action: FleetAction): Permission;
  /** Every bot the caller may see, by id and name only: what names can refer to, however many bots there are. */
  botNames(): Promise<Answer<NamedBot[]>>;
  bot(id: string): Promise<Answer<BotView>>;
  fleet(): Promise<
    Answer<{ total: number; stats: Record<BotStatus, number>; bots: Array<Pick<BotView, 'bot_id' | 'status'>> }>
  >;
  command(id: string, action: 'start' | 'stop' | 'restart'): Promise<Answer<{ message: string }>>;
  remove(id: string): Promise<Answer<{ bot_id: string }>>;
  logs(id: string, tail: number): Promise<Answer<{ lines: string[] }>>;
  incidents(botId: string | null, limit: number): Promise<Answer<{ total: number; incidents: IncidentSummary[] }>>;
  knowledge(id: string): Promise<Answer<{ summary: string }>>;
  /** The bot's latest deployments, newest first. */
  deployments(botId: string, limit: number): Promise<Answer<{ deployments: DeploymentSummary[] }>>;
  /** Back to the latest healthy revision before the current, through the gate. */
  rollback(id: string): Promise<Answer<DeploymentSummary & { message: string }>>;
}
