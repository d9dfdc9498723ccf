import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, QueryResult } from './database.js';

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

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const r = params.length ? await this.db.query<R>(sql, params as unknown[]) : await this.db.exec(sql).then((results) => results[results.length - 1] ?? { rows: [], affectedRows: 0 });
    return { rows: r.rows as R[], rowCount: (r as { affectedRows?: number }).affectedRows ?? r.rows.length };
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    return this.db.transaction(async (t: Transaction) => {
      const tx: Database = {
        kind: 'pglite',
        query: async <R>(sql: string, params: readonly unknown[] = []) => {
          const r = params.length ? await t.query<R>(sql, params as unknown[]) : await t.exec(sql).then((results) => results[results.length - 1] ?? { rows: [], affectedRows: 0 });
          return { rows: r.rows as R[], rowCount: (r as { affectedRows?: number }).affectedRows ?? r.rows.length };
        },
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
