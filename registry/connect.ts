import fs from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../lib/config.js';
import type { Database } from './database.js';
import { PGlitePool } from './pglite-pool.js';

export interface Registry {
  db: Kysely<Database>;
  /** 'postgres' when DATABASE_URL is set, otherwise the embedded PGlite. */
  engine: 'postgres' | 'pglite';
  close(): Promise<void>;
}

// Timestamps travel as Date on both engines; int8 counts are parsed as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export async function openRegistry(
  config: Pick<Config, 'DATABASE_URL' | 'paths'>,
  opts: { poolSize?: number; onIdleError?: (err: Error) => void } = {},
): Promise<Registry> {
  if (config.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: opts.poolSize ?? 10 });
    // An idle connection that the server ends (PostgreSQL restarted, or a database dropped) is an 'error' on the
    // pool, which would crash the process unheard; the pool has already let that connection go and opens a new one when asked.
    pool.on('error', (err) => opts.onIdleError?.(err));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: 'postgres', close: () => db.destroy() };
  }
  const dir = path.join(config.paths.dataDir, 'pglite');
  await fs.mkdir(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create(dir);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new PGlitePool(pglite) }) });
  return { db, engine: 'pglite', close: () => db.destroy() };
}
