export type { Database, QueryResult } from './database.js';
export { assertIdentifier } from './database.js';
export { openDatabase } from './open-database.js';
export { PgDatabase } from './pg-database.js';
export { PgliteDatabase } from './pglite-database.js';
export { SqlPositionStore, MemoryPositionStore, type PositionStore } from './position-store.js';
export { checkCrmIdentity, checkStateIdentity, ensureIdentityTable, forgetState, StateOfAnotherSide, type IdentityOutcome, type StateSide } from './state-identity.js';
