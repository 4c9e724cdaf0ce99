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

export async function openRegistry(config: Pick<Config, 'DATABASE_URL' | 'paths'>, opts: { poolSize?: number } = {}): Promise<Registry> {
  if (config.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: opts.poolSize ?? 10 });
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
