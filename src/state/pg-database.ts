import pg from 'pg';
import type { Database, QueryResult } from './database.js';
import { databaseError } from './database-error.js';

/**
 * Database on a PostgreSQL server (pg.Pool of `max` connections). Every failure is a
 * DatabaseError saying whether it is worth retrying.
 */
export class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;

  constructor(connectionString: string, options: { max?: number } = {}) {
    this.pool = new pg.Pool({ connectionString, max: options.max ?? 10 });
    // An idle client that dies (server restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    try {
      const result = await this.pool.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw databaseError(err);
    }
  }

  /** Connections open, idle and asked for (a connection checked out = total − idle). */
  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw databaseError(err);
    });
    const tx: Database = {
      kind: 'postgres',
      query: async <R>(sql: string, params: readonly unknown[] = []) => {
        try {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        } catch (err) {
          throw databaseError(err);
        }
      },
      transaction: (inner) => inner(tx),
      listen: () => Promise.reject(new Error('LISTEN inside a transaction is not supported')),
      close: async () => undefined,
    };
    try {
      await tx.query('begin');
      const result = await work(tx);
      await tx.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (!this.listener) {
      this.listener = new pg.Client({ connectionString: this.pool.options.connectionString });
      this.listener.on('error', () => undefined);
      await this.listener.connect();
    }
    const client = this.listener;
    const handler = (msg: pg.Notification): void => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    };
    client.on('notification', handler);
    await client.query(`listen "${channel.replace(/"/g, '')}"`);
    return async () => {
      client.off('notification', handler);
      await client.query(`unlisten "${channel.replace(/"/g, '')}"`).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
