import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

/**
 * PGlite is one in-process Postgres session. Kysely's PostgresDialect wants a
 * pool, so this hands out that single session to one borrower at a time: a
 * transaction holds it from BEGIN to COMMIT and other queries wait their turn.
 */
export class PGlitePool implements PostgresPool {
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly db: PGlite) {}

  async connect(): Promise<PostgresPoolClient> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    let released = false;
    return {
      query: async <R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> => {
        const result = await this.db.query<R>(sql, parameters as unknown[]);
        return {
          command: (result as { command?: string }).command as PostgresQueryResult<R>['command'],
          rowCount: (result as { rowCount?: number }).rowCount ?? result.affectedRows ?? result.rows.length,
          rows: result.rows,
        };
      },
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiting.shift();
        if (next) next();
        else this.busy = false;
      },
    } as PostgresPoolClient;
  }

  async end(): Promise<void> {
    await this.db.close();
  }
}
