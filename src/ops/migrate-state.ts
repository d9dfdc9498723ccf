import { createHash } from 'node:crypto';
import { DeleteBreaker, ItemMappingStore, SelectionFolderStore } from '../handlers/index.js';
import { assertIdentifier, ensureIdentityTable, SqlPositionStore, type Database } from '../state/index.js';

/** The state's migrations, in order. */
const MIGRATIONS: ReadonlyArray<(db: Database, schema: string) => Promise<unknown>> = [
  (db, schema) => SqlPositionStore.open(db, schema),
  (db, schema) => ensureIdentityTable(db, schema, 'exchange'),
  (db, schema) => ensureIdentityTable(db, schema, 'crm'),
  (db, schema) => ItemMappingStore.migrate(db, schema),
  (db, schema) => SelectionFolderStore.migrate(db, schema),
  (db, schema) => DeleteBreaker.migrate(db, schema),
];

/** What the migrations are: their own code, so a changed migration runs again without anyone bumping a number. */
const VERSION = createHash('sha256')
  .update([SqlPositionStore.open, ensureIdentityTable, ItemMappingStore.migrate, SelectionFolderStore.migrate, DeleteBreaker.migrate].map(String).join('\n'))
  .digest('hex').slice(0, 16);

/**
 * The state's tables, made by one instance at a time, and only when they are not made yet.
 * Instances of a scale-out start together (a deployment's replicas): two CREATE TABLE IF NOT
 * EXISTS of one table at once fail in PostgreSQL ("duplicate key value violates unique
 * constraint pg_type_typname_nsp_index"), and an instance migrating in one transaction while
 * another already works on the tables deadlocks (ALTER TABLE locks each table it touches until
 * the end). So: a transaction-scoped advisory lock per schema, and the migrations only when the
 * version recorded is not this one — the instances after the first find it and touch nothing.
 */
export async function migrateState(db: Database, schema: string): Promise<void> {
  const s = assertIdentifier(schema);
  await db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`exchange-crm-sync:state:${s}`]);
    await tx.query(`create schema if not exists ${s}`);
    await tx.query(`create table if not exists ${s}.state_version (version text not null)`);
    const { rows } = await tx.query<{ version: string }>(`select version from ${s}.state_version`);
    if (rows.length === 1 && rows[0].version === VERSION) return;
    for (const migrate of MIGRATIONS) await migrate(tx, s);
    await tx.query(`delete from ${s}.state_version`);
    await tx.query(`insert into ${s}.state_version (version) values ($1)`, [VERSION]);
  });
}
