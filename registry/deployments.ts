import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import { ACTIVE_PHASES } from '../lib/deployment-phases.js';
import type { Database, DeploymentRow, DeploymentStep, DeploymentsTable } from './database.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertDeployment(db: Db, row: Insertable<DeploymentsTable>): Promise<DeploymentRow> {
  return db.insertInto('deployments').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Which rule a refused insert broke: another active deployment of the bot, or a repeated Idempotency-Key. */
export function deploymentConflict(err: unknown): 'active' | 'idempotency' | null {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code !== '23505') return null;
  const where = `${e.constraint ?? ''} ${e.message ?? ''}`;
  if (where.includes('deployments_one_active_idx')) return 'active';
  if (where.includes('deployments_idempotency_idx')) return 'idempotency';
  return null;
}

export async function findDeployment(db: Db, id: string): Promise<DeploymentRow | undefined> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findActiveDeployment(db: Db, botId: string): Promise<DeploymentRow | undefined> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('bot_id', '=', botId)
    .where('phase', 'in', [...ACTIVE_PHASES])
    .executeTakeFirst();
}

export async function findByIdempotencyKey(
  db: Db,
  requestedBy: string,
  key: string,
): Promise<DeploymentRow | undefined> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('requested_by', '=', requestedBy)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** Newest first; `bots` narrows to the bots a scoped key may see. */
export async function listDeployments(
  db: Db,
  opts: {
    botId?: string | undefined;
    phase?: string | undefined;
    bots?: readonly string[] | null;
    limit: number;
    offset: number;
  },
): Promise<{ rows: DeploymentRow[]; total: number }> {
  let q = db.selectFrom('deployments');
  if (opts.botId) q = q.where('bot_id', '=', opts.botId);
  if (opts.phase) q = q.where('phase', '=', opts.phase);
  if (opts.bots) q = opts.bots.length > 0 ? q.where('bot_id', 'in', [...opts.bots]) : q.where(sql<boolean>`false`);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).offset(opts.offset).execute(),
    q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export interface StepRecord {
  id: string;
  phase: string;
  step: DeploymentStep;
  revision?: number;
  previousRevision?: number | null;
  rollbackRevision?: number;
  outcome?: string;
  reason?: string;
  evidence?: Record<string, unknown>;
  /** The phase ends the deployment. */
  final?: boolean;
}

/**
 * Moves a deployment to its next phase and appends the step, unless it has
 * already ended (superseded or cancelled by someone else meanwhile): then
 * nothing changes and the row as it is comes back. A phase's step is
 * appended once, however often it is recorded. A deployment whose bot was deleted is
 * gone: nothing is written, and no row comes back.
 */
export async function recordStep(db: Db, r: StepRecord): Promise<{ row: DeploymentRow | undefined; written: boolean }> {
  const written = await db
    .updateTable('deployments')
    .set({
      phase: r.phase,
      steps: sql`steps || ${JSON.stringify([r.step])}::jsonb`,
      ...(r.revision !== undefined ? { revision: r.revision } : {}),
      ...(r.previousRevision !== undefined ? { previous_revision: r.previousRevision } : {}),
      ...(r.rollbackRevision !== undefined ? { rollback_revision: r.rollbackRevision } : {}),
      ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.evidence !== undefined ? { evidence: JSON.stringify(r.evidence) } : {}),
      ...(r.final ? { finished_at: sql`now()` } : {}),
    })
    .where('id', '=', r.id)
    .where('phase', 'in', [...ACTIVE_PHASES])
    // Each phase is entered once: a step repeated (a retried activity, or one run again after its worker died, at another time) is not.
    .where(sql<boolean>`not (steps @> ${JSON.stringify([{ phase: r.phase }])}::jsonb)`)
    .returningAll()
    .executeTakeFirst();
  if (written) return { row: written, written: true };
  // Gone with its bot (deleted), or ended: either way this step is not written.
  return { row: await findDeployment(db, r.id), written: false };
}

/** Ends an active deployment from outside its workflow (superseded by a newer one); false when it had ended already. */
export async function endDeployment(
  db: Db,
  id: string,
  phase: 'superseded' | 'cancelled',
  step: DeploymentStep,
  reason: string,
): Promise<boolean> {
  const r = await db
    .updateTable('deployments')
    .set({
      phase,
      outcome: phase,
      reason,
      steps: sql`steps || ${JSON.stringify([step])}::jsonb`,
      finished_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('phase', 'in', [...ACTIVE_PHASES])
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Counts by phase, for the list's stats. */
export async function deploymentPhaseCounts(db: Db, botId?: string): Promise<Record<string, number>> {
  let q = db.selectFrom('deployments').select(['phase', sql<number>`count(*)::int`.as('n')]);
  if (botId) q = q.where('bot_id', '=', botId);
  const rows = await q.groupBy('phase').execute();
  return Object.fromEntries(rows.map((r) => [r.phase, Number(r.n)]));
}

/** Locks a deployment's row for the caller's transaction: what it is now (absent: no such deployment). */
export async function lockDeployment(
  trx: Transaction<Database>,
  id: string,
): Promise<Pick<DeploymentRow, 'phase' | 'rollback_revision'> | undefined> {
  return trx
    .selectFrom('deployments')
    .select(['phase', 'rollback_revision'])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
}

export async function setRollbackRevision(db: Db, id: string, revision: number): Promise<void> {
  await db.updateTable('deployments').set({ rollback_revision: revision }).where('id', '=', id).execute();
}

export async function setDeploymentEvidence(db: Db, id: string, evidence: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('deployments')
    .set({ evidence: JSON.stringify(evidence) })
    .where('id', '=', id)
    .execute();
}
