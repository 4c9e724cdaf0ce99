import { sql, type Kysely, type Transaction } from 'kysely';
import { RAN_HEALTHY_SECONDS } from '../lib/deployment-phases.js';
import { lockBot } from './bots.js';
import type { BotRow, Database, RevisionRow, RevisionSource, RevisionSpec } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The spec columns a revision covers: what runs, not who the bot is. */
export const RUNNABLE_FIELDS = ['blueprint', 'image', 'artifact', 'entrypoint', 'args', 'env', 'resources'] as const;

export function specOf(bot: Pick<BotRow, (typeof RUNNABLE_FIELDS)[number]>): RevisionSpec {
  return {
    blueprint: bot.blueprint,
    image: bot.image,
    artifact: bot.artifact,
    entrypoint: bot.entrypoint,
    args: bot.args,
    env: bot.env,
    resources: bot.resources,
  };
}

/** Whether two specs run the same thing (key order aside). */
export function sameSpec(a: RevisionSpec, b: RevisionSpec): boolean {
  const canonical = (s: RevisionSpec) =>
    JSON.stringify({
      ...s,
      env: Object.fromEntries(Object.entries(s.env).sort(([x], [y]) => x.localeCompare(y))),
      resources: { memory_limit_mb: s.resources.memory_limit_mb, cpu_limit: s.resources.cpu_limit },
    });
  return canonical(a) === canonical(b);
}

export interface NewRevision {
  botId: string;
  spec: RevisionSpec;
  source: RevisionSource;
  deploymentId?: string | null;
  restores?: number | null;
  createdBy: string;
}

/**
 * The bot's next revision, numbered under a lock on the bot's row, so two
 * changes at once get two numbers. The caller owns the transaction (and
 * applies the revision to the bot when it should run).
 */
export async function addRevision(trx: Transaction<Database>, r: NewRevision): Promise<RevisionRow> {
  if (!(await lockBot(trx, r.botId))) throw new Error(`bot ${r.botId} does not exist`);
  const last = await trx
    .selectFrom('bot_revisions')
    .select((eb) => eb.fn.max('revision').as('n'))
    .where('bot_id', '=', r.botId)
    .executeTakeFirst();
  return trx
    .insertInto('bot_revisions')
    .values({
      bot_id: r.botId,
      revision: Number(last?.n ?? 0) + 1,
      spec: JSON.stringify(r.spec),
      source: r.source,
      deployment_id: r.deploymentId ?? null,
      restores: r.restores ?? null,
      created_by: r.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The bot runs `revision` from its next launch: its spec columns take the revision's values. */
export async function applyRevision(db: Db, botId: string, revision: RevisionRow): Promise<BotRow | undefined> {
  const s = revision.spec;
  return db
    .updateTable('bots')
    .set({
      blueprint: s.blueprint,
      image: s.image,
      artifact: s.artifact,
      entrypoint: s.entrypoint,
      args: JSON.stringify(s.args),
      env: JSON.stringify(s.env),
      resources: JSON.stringify(s.resources),
      revision: revision.revision,
      updated_at: sql`now()`,
    })
    .where('id', '=', botId)
    .returningAll()
    .executeTakeFirst();
}

export async function findRevision(db: Db, botId: string, revision: number): Promise<RevisionRow | undefined> {
  return db
    .selectFrom('bot_revisions')
    .selectAll()
    .where('bot_id', '=', botId)
    .where('revision', '=', revision)
    .executeTakeFirst();
}

export type RevisionWithHealth = RevisionRow & { healthy: boolean };

/**
 * Healthy: it passed a deployment's gate, or it ran healthy — an instance of
 * it ran RAN_HEALTHY_SECONDS and was then stopped on request (not ended by a
 * crash or a health rule), or runs now and has been running that long.
 */
const healthyExpression = sql<boolean>`(r.passed_gate or exists (
  select 1 from instances i join bots b on b.id = i.bot_id
  where i.bot_id = r.bot_id and i.revision = r.revision and (
    (i.ended_at is not null and i.end_reason = 'stopped on request'
      and i.ended_at - i.started_at >= make_interval(secs => ${sql.lit(RAN_HEALTHY_SECONDS)}))
    or (i.ended_at is null and i.id = b.current_instance_id and b.status = 'running'
      and i.started_at <= now() - make_interval(secs => ${sql.lit(RAN_HEALTHY_SECONDS)})))))`;

/** Newest first. */
export async function listRevisions(
  db: Db,
  botId: string,
  opts: { limit: number; offset: number },
): Promise<{ rows: RevisionWithHealth[]; total: number }> {
  const q = db.selectFrom('bot_revisions as r').where('r.bot_id', '=', botId);
  const [rows, count] = await Promise.all([
    q
      .selectAll('r')
      .select(healthyExpression.as('healthy'))
      .orderBy('r.revision', 'desc')
      .limit(opts.limit)
      .offset(opts.offset)
      .execute(),
    q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows.map((r) => ({ ...r, healthy: Boolean(r.healthy) })), total: Number(count.n) };
}

/** The latest healthy revision before `before`: what a rollback goes back to. */
export async function latestHealthyBefore(db: Db, botId: string, before: number): Promise<RevisionRow | undefined> {
  return db
    .selectFrom('bot_revisions as r')
    .selectAll('r')
    .where('r.bot_id', '=', botId)
    .where('r.revision', '<', before)
    .where(healthyExpression)
    .orderBy('r.revision', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function markPassedGate(db: Db, botId: string, revision: number): Promise<void> {
  await db
    .updateTable('bot_revisions')
    .set({ passed_gate: true })
    .where('bot_id', '=', botId)
    .where('revision', '=', revision)
    .execute();
}

/** Artifacts the last `keep` revisions of any bot name: the ones still wanted. */
export async function artifactsInUse(db: Db, keep: number): Promise<Set<string>> {
  const rows = await sql<{ artifact: string }>`
    select distinct spec->>'artifact' as artifact from (
      select spec, row_number() over (partition by bot_id order by revision desc) as n from bot_revisions
    ) recent where n <= ${keep} and spec->>'artifact' is not null
    union select artifact from bots where artifact is not null`.execute(db);
  return new Set(rows.rows.map((r) => r.artifact));
}
