import type { BotStatus } from '../lib/bot-status.js';
import { sql, type Kysely } from 'kysely';
import type { BotHeartbeatsTable, Database } from './database.js';
import type { Selectable } from 'kysely';

export type HeartbeatRow = Selectable<BotHeartbeatsTable>;

export interface Beat {
  botId: string;
  instanceId: string;
  at: Date;
  requests: number;
  errors: number;
  gauges: Record<string, number>;
}

/**
 * Records a heartbeat. Counters add up per instance; a heartbeat from a new
 * instance starts the row over. Returns the row as it is now (beats = 1: the
 * first heartbeat of this instance).
 */
export async function recordHeartbeat(db: Kysely<Database>, b: Beat): Promise<HeartbeatRow> {
  const errorRate = b.requests > 0 ? b.errors / b.requests : null;
  const same = sql<boolean>`bot_heartbeats.instance_id = excluded.instance_id`;
  return db
    .insertInto('bot_heartbeats')
    .values({
      bot_id: b.botId,
      instance_id: b.instanceId,
      first_at: b.at,
      last_at: b.at,
      beats: 1,
      requests: b.requests,
      errors: b.errors,
      error_rate: errorRate,
      gauges: JSON.stringify(b.gauges),
    })
    .onConflict((oc) =>
      oc.column('bot_id').doUpdateSet({
        first_at: sql`case when ${same} then bot_heartbeats.first_at else excluded.first_at end`,
        beats: sql`case when ${same} then bot_heartbeats.beats + 1 else 1 end`,
        requests: sql`case when ${same} then bot_heartbeats.requests + excluded.requests else excluded.requests end`,
        errors: sql`case when ${same} then bot_heartbeats.errors + excluded.errors else excluded.errors end`,
        error_rate: sql`case when excluded.error_rate is not null then excluded.error_rate when ${same} then bot_heartbeats.error_rate else null end`,
        gauges: sql`case when ${same} then bot_heartbeats.gauges || excluded.gauges else excluded.gauges end`,
        instance_id: sql`excluded.instance_id`,
        last_at: sql`excluded.last_at`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function heartbeatsOf(
  db: Kysely<Database>,
  botIds: readonly string[],
): Promise<Map<string, HeartbeatRow>> {
  if (botIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('bot_heartbeats')
    .selectAll()
    .where('bot_id', 'in', [...botIds])
    .execute();
  return new Map(rows.map((r) => [r.bot_id, r]));
}

/** The latest heartbeat of each bot's current instance, with the bot's status: for /metrics. */
export async function currentHeartbeats(
  db: Kysely<Database>,
): Promise<Array<{ bot_id: string; last_at: Date; error_rate: number | null; status: BotStatus }>> {
  return db
    .selectFrom('bot_heartbeats as h')
    .innerJoin('bots as b', (j) =>
      j.onRef('b.id', '=', 'h.bot_id').onRef('b.current_instance_id', '=', 'h.instance_id'),
    )
    .select(['h.bot_id', 'h.last_at', 'h.error_rate', 'b.status'])
    .execute();
}
