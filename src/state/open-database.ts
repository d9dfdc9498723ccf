import type { DatabaseSettings } from '../config/index.js';
import type { Database } from './database.js';
import { PgDatabase } from './pg-database.js';
import { PgliteDatabase } from './pglite-database.js';

/** A configured database: a PostgreSQL server (a pool of poolSize), or embedded PGlite in a folder. */
export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.type === 'postgres') {
    const db = new PgDatabase(settings.url!, { max: settings.poolSize });
    await db.query('select 1');
    return db;
  }
  return PgliteDatabase.open(settings.path);
}
