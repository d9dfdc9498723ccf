/**
 * The SQL database the sync keeps its own state in (and the reference CRM lives in): the
 * machine's PostgreSQL server, or PGlite (embedded PostgreSQL) for `npm start`. The same
 * SQL runs on both.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs `work` in one transaction on one connection. */
  transaction<T>(work: (tx: Database) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; resolves to an unlisten function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A schema name is interpolated into SQL, so it must be a plain identifier. */
export function assertIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}
