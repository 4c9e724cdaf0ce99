import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** What the fleet has done so far, as facts the guide's checklist is computed from (one round trip). */
export interface OnboardingFacts {
  bots: number;
  /** A bot was asked to run, or has run. */
  started: boolean;
  /** A bot runs now, or was sampled while it ran. */
  ran: boolean;
  heartbeats: boolean;
  incidents: boolean;
  deployments: boolean;
  /** Live (not revoked, not expired) API keys, with what they grant. */
  liveKeys: Array<{ role: string | null; permissions: string[] | null }>;
}

export async function onboardingFacts(db: Kysely<Database>): Promise<OnboardingFacts> {
  const exists = (table: keyof Database) => sql<boolean>`exists (select 1 from ${sql.table(table)})`;
  const [facts, keys] = await Promise.all([
    db
      .selectNoFrom([
        sql<number>`(select count(*)::int from bots)`.as('bots'),
        sql<boolean>`exists (select 1 from instances) or exists (select 1 from bots where desired_state = 'running')`.as(
          'started',
        ),
        sql<boolean>`exists (select 1 from bot_metrics_minute) or exists (select 1 from bots where status in ('running', 'degraded'))`.as(
          'ran',
        ),
        exists('bot_heartbeats').as('heartbeats'),
        exists('incidents').as('incidents'),
        exists('deployments').as('deployments'),
      ])
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('api_keys')
      .select(['role', 'permissions'])
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
      .execute(),
  ]);
  return {
    bots: Number(facts.bots),
    started: Boolean(facts.started),
    ran: Boolean(facts.ran),
    heartbeats: Boolean(facts.heartbeats),
    incidents: Boolean(facts.incidents),
    deployments: Boolean(facts.deployments),
    liveKeys: keys,
  };
}
