import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, QueryResult } from './database.js';
import { databaseError } from './database-error.js';

/**
 * The embedded databases hold a demo's or one instance's data: PostgreSQL's default 128 MB of
 * shared buffers, in each WebAssembly heap, is most of npm start's memory (measured: two
 * PGlite folders reopened, 485 MiB RSS with the defaults, 214 MiB with these).
 */
const SMALL_FOOTPRINT = ['-c', 'shared_buffers=16MB', '-c', 'wal_buffers=1MB', '-c', 'work_mem=2MB', '-c', 'maintenance_work_mem=16MB'];

/**
 * A new data folder is made (initdb) in a child process: initdb's WebAssembly heap is never
 * given back to the operating system, and would stay in the service's memory for good (a first
 * start with two new folders: 945 MiB RSS; opened after a separate initdb, as later starts: 214).
 */
function initialiseApart(path: string): void {
  if (existsSync(join(path, 'PG_VERSION'))) return;
  const pglite = import.meta.resolve('@electric-sql/pglite');
  const script = `const { PGlite } = await import(${JSON.stringify(pglite)}); const db = await PGlite.create(${JSON.stringify(path)}); await db.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  // if the child could not do it, PGlite.create below makes the folder in this process, as before
  if (r.status !== 0 && !existsSync(join(path, 'PG_VERSION'))) process.emitWarning(`initialising ${path} in a child process failed (${r.stderr.trim().split('\n').pop() ?? r.status}); doing it here`);
}

/** Embedded PostgreSQL (PGlite) in a local folder: the `npm start` default; no server to install. */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;

  private constructor(private readonly db: PGlite) {}

  /** `path` null: in memory (tests). */
  static async open(path: string | null): Promise<PgliteDatabase> {
    if (path) {
      mkdirSync(path, { recursive: true });
      initialiseApart(path);
    }
    const options = { startParams: [...PGlite.defaultStartParams, ...SMALL_FOOTPRINT] };
    const db = path ? await PGlite.create(path, options) : await PGlite.create(options);
    return new PgliteDatabase(db);
  }

  query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return run<R>(this.db, sql, params);
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    return this.db.transaction(async (t: Transaction) => {
      const tx: Database = {
        kind: 'pglite',
        query: <R>(sql: string, params: readonly unknown[] = []) => run<R>(t, sql, params),
        transaction: (inner) => inner(tx),
        listen: () => Promise.reject(new Error('LISTEN inside a transaction is not supported')),
        close: async () => undefined,
      };
      return work(tx);
    });
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const unlisten = await this.db.listen(channel, onNotify);
    return unlisten;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** One statement (with parameters) or a script (without), its failure a DatabaseError. */
async function run<R>(on: PGlite | Transaction, sql: string, params: readonly unknown[]): Promise<QueryResult<R>> {
  try {
    const r = params.length ? await on.query<R>(sql, params as unknown[]) : await on.exec(sql).then((results) => results[results.length - 1] ?? { rows: [], affectedRows: 0 });
    return { rows: r.rows as R[], rowCount: (r as { affectedRows?: number }).affectedRows ?? r.rows.length };
  } catch (err) {
    throw databaseError(err);
  }
}
