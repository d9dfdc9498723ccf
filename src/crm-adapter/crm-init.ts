import type { Database } from '../state/database.js';
import { assertIdentifier } from '../state/database.js';
import { referenceSchemaSql } from './reference-schema.js';

/** Creates or migrates the reference CRM (idempotent). */
export async function initReferenceCrm(db: Database, schema: string): Promise<void> {
  await db.query(referenceSchemaSql(schema));
}

/** Demo associates whose e-mail addresses are the sandbox's mailboxes (existing ones kept). */
export async function seedDemoAssociates(db: Database, schema: string, addresses: readonly string[]): Promise<number> {
  const s = assertIdentifier(schema);
  let added = 0;
  for (const email of addresses) {
    const name = email.split('@')[0].replace(/^user0*/, 'Demo user ');
    const r = await db.query(`insert into ${s}.associate (name, email) values ($1, $2) on conflict (email) do nothing`, [name, email]);
    added += r.rowCount;
  }
  return added;
}
