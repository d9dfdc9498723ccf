import { createHash } from 'node:crypto';
import type { Database } from '../state/database.js';
import { assertIdentifier } from '../state/database.js';
import { referenceSchemaSql } from './reference-schema.js';

/**
 * Creates or migrates the reference CRM (idempotent), once per version of its schema: the
 * instances of a scale-out start together, and the schema's DDL run by two at once — or by one
 * while another already works on the tables — deadlocks. Under an advisory lock per schema the
 * first runs it and records the version (a hash of the SQL); the others find it and touch nothing.
 */
export async function initReferenceCrm(db: Database, schema: string): Promise<void> {
  const s = assertIdentifier(schema);
  const sql = referenceSchemaSql(schema);
  const version = createHash('sha256').update(sql).digest('hex').slice(0, 16);
  await db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`exchange-crm-sync:crm-schema:${s}`]);
    const { rows } = await tx.query<{ made: boolean }>('select to_regclass($1) is not null as made', [`${s}.sync_schema_version`]);
    if (rows[0]?.made && (await tx.query<{ version: string }>(`select version from ${s}.sync_schema_version`)).rows.map((r) => r.version).join() === version) return;
    await tx.query(sql);
    await tx.query(`create table if not exists ${s}.sync_schema_version (version text not null)`);
    await tx.query(`delete from ${s}.sync_schema_version`);
    await tx.query(`insert into ${s}.sync_schema_version (version) values ($1)`, [version]);
  });
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

/** The demo's people: a few persons at two companies. */
const DEMO_PEOPLE: ReadonlyArray<[string, string, string, string]> = [
  ['Ada', 'Lovelace', 'Analytical Engines Ltd', '+44 20 7946 0001'], ['Charles', 'Babbage', 'Analytical Engines Ltd', '+44 20 7946 0002'],
  ['Grace', 'Hopper', 'Compiler Works Inc', '+1 202 555 0143'], ['Katherine', 'Johnson', 'Compiler Works Inc', '+1 757 555 0198'], ['Alan', 'Turing', 'Analytical Engines Ltd', '+44 20 7946 0003'],
];

/**
 * The demo's selection: "Demo key accounts", five persons, subscribed to by the first demo
 * associate — so `npm start` shows a selection folder in that mailbox. Made once.
 */
export async function seedDemoSelection(db: Database, schema: string, subscriber: string): Promise<boolean> {
  const s = assertIdentifier(schema);
  if ((await db.query(`select 1 from ${s}.selection where name = 'Demo key accounts'`)).rowCount) return false;
  const owner = (await db.query<{ associate_id: number }>(`select associate_id from ${s}.associate where lower(email) = lower($1)`, [subscriber])).rows[0]?.associate_id;
  if (owner === undefined) return false;
  await db.transaction(async (tx) => {
    const selection = (await tx.query<{ selection_id: number }>(`insert into ${s}.selection (name, associate_id) values ('Demo key accounts', $1) returning selection_id`, [owner])).rows[0].selection_id;
    for (const [first, last, company, phone] of DEMO_PEOPLE) {
      const existing = (await tx.query<{ contact_id: number }>(`select contact_id from ${s}.contact where name = $1`, [company])).rows[0]?.contact_id;
      const contact = existing ?? (await tx.query<{ contact_id: number }>(`insert into ${s}.contact (name) values ($1) returning contact_id`, [company])).rows[0].contact_id;
      const email = `${first}.${last}@${company.split(' ')[0].toLowerCase()}.example`.toLowerCase();
      const person = (await tx.query<{ person_id: number }>(`insert into ${s}.person (contact_id, firstname, lastname, email, phone) values ($1, $2, $3, $4, $5) returning person_id`, [contact, first, last, email, phone])).rows[0].person_id;
      await tx.query(`insert into ${s}.selection_member (selection_id, person_id) values ($1, $2)`, [selection, person]);
    }
    await tx.query(`insert into ${s}.selection_subscriber (selection_id, associate_id) values ($1, $2)`, [selection, owner]);
  });
  return true;
}
