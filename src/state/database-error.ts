import { SyncError } from '../shared/errors.js';

/**
 * SQLSTATE classes worth repeating the same work for: connection trouble (08), serialization
 * failures and deadlocks (40001, 40P01), insufficient resources (53), an operator or crash
 * shutdown (57P01–57P03). Everything else (a constraint, a syntax error) fails again.
 */
const RETRIABLE_SQLSTATE = /^(08|40001|40P01|53|57P0[1-3])/;
const RETRIABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/** A query failed: the SQLSTATE (or the socket's code) says whether trying again can help. */
export class DatabaseError extends SyncError {
  /** PostgreSQL's SQLSTATE, when the server answered. */
  readonly sqlState: string | undefined;
  constructor(message: string, sqlState: string | undefined, retriable: boolean, cause: unknown) {
    super(`DB_${sqlState ?? 'UNAVAILABLE'}`, message, { retriable, cause, context: sqlState ? { sqlState } : {} });
    this.sqlState = sqlState;
  }
}

/** Wraps what pg or PGlite threw (SyncErrors pass through unchanged). */
export function databaseError(err: unknown): SyncError {
  if (err instanceof SyncError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return new DatabaseError(message, code, RETRIABLE_SQLSTATE.test(code), err);
  // no SQLSTATE: the connection itself failed (refused, reset, pool closed by a restart)
  const connection = typeof code === 'string' ? RETRIABLE_NODE_CODES.has(code) : /connect|terminat|Connection/i.test(message);
  return new DatabaseError(message, undefined, connection, err);
}
