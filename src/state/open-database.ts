import type { CrmSettings } from '../config/index.js';
import type { Database } from './database.js';
import { PgDatabase } from './pg-database.js';
import { PgliteDatabase } from './pglite-database.js';

/** The configured database: a PostgreSQL server, or embedded PGlite in a folder. */
export async function openDatabase(crm: CrmSettings): Promise<Database> {
  if (crm.type === 'postgres') {
    const db = new PgDatabase(crm.url!);
    await db.query('select 1');
    return db;
  }
  return PgliteDatabase.open(crm.path);
}
