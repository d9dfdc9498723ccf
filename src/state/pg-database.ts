import pg from 'pg';
import type { Database, QueryResult } from './database.js';

/** Database on a PostgreSQL server (pg.Pool). */
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
    const result = await this.pool.query(sql, params as unknown[]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Database = {
      kind: 'postgres',
      query: async <R>(sql: string, params: readonly unknown[] = []) => {
        const r = await client.query(sql, params as unknown[]);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      transaction: (inner) => inner(tx),
      listen: () => Promise.reject(new Error('LISTEN inside a transaction is not supported')),
      close: async () => undefined,
    };
    try {
      await client.query('begin');
      const result = await work(tx);
      await client.query('commit');
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
