import { DeleteBreaker, ItemMappingStore, SelectionFolderStore } from '../handlers/index.js';
import { assertIdentifier, ensureIdentityTable, SqlPositionStore, type Database } from '../state/index.js';

/**
 * The state's tables, made by one instance at a time: instances of a scale-out start together
 * (replicas of a deployment), and two CREATE TABLE IF NOT EXISTS of one table at once fail in
 * PostgreSQL ("duplicate key value violates unique constraint pg_type_typname_nsp_index"). A
 * transaction-scoped advisory lock per schema serialises them; the second instance finds the
 * tables made. Also the migrations' ALTER TABLEs run here, before anything reads the tables.
 */
export async function migrateState(db: Database, schema: string): Promise<void> {
  await db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`exchange-crm-sync:state:${assertIdentifier(schema)}`]);
    await SqlPositionStore.open(tx, schema);
    for (const side of ['exchange', 'crm'] as const) await ensureIdentityTable(tx, schema, side);
    await ItemMappingStore.migrate(tx, schema);
    await SelectionFolderStore.migrate(tx, schema);
    await DeleteBreaker.migrate(tx, schema);
  });
}
