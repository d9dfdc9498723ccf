import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, QueryResult } from './database.js';
import { databaseError } from './database-error.js';

/** Embedded PostgreSQL (PGlite) in a local folder: the `npm start` default; no server to install. */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;

  private constructor(private readonly db: PGlite) {}

  /** `path` null: in memory (tests). */
  static async open(path: string | null): Promise<PgliteDatabase> {
    if (path) mkdirSync(path, { recursive: true });
    const db = path ? await PGlite.create(path) : await PGlite.create();
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
