import { assertIdentifier } from './database.js';
import type { Database } from './database.js';

/**
 * The sync's state (mappings, positions) belongs to one CRM. Pointed at another CRM — a new
 * database, schema or tenant — with the old state kept, its mappings would swallow the new
 * CRM's changes (an item already "mapped" is updated in a record that is not there). So the
 * CRM's identity is recorded with the state, and a start against another CRM is refused
 * unless the operator asks to re-baseline: forget the mappings and positions, read every
 * mailbox anew and create its items in this CRM.
 */
export class StateOfAnotherCrm extends Error {
  readonly code = 'STATE_OF_ANOTHER_CRM';
  constructor(readonly recorded: string, readonly current: string, schema: string) {
    super(`the sync state in schema "${schema}" belongs to the CRM ${recorded}, not ${current}: its mappings would swallow this CRM's changes. `
      + 'Start with --rebaseline to forget them (every mailbox is read anew and its items are created in this CRM), or give this CRM a state schema of its own (<state schema>)');
  }
}

export type IdentityOutcome = 'recorded' | 'same' | 'rebaselined';

export async function checkCrmIdentity(db: Database, schema: string, identity: string, rebaseline: boolean): Promise<IdentityOutcome> {
  const s = assertIdentifier(schema);
  await db.query(`create table if not exists ${s}.crm_identity (identity text not null, recorded timestamptz not null default now())`);
  const { rows } = await db.query<{ identity: string }>(`select identity from ${s}.crm_identity limit 1`);
  const recorded = rows[0]?.identity;
  if (recorded === identity) return 'same';
  if (recorded !== undefined && !rebaseline) throw new StateOfAnotherCrm(recorded, identity, schema);
  if (recorded !== undefined) {
    // what belonged to the other CRM goes: mappings, half-made creates, every position
    for (const table of ['item_map', 'create_note', 'position']) {
      const exists = await db.query<{ n: number }>(`select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = $2`, [schema, table]);
      if (exists.rows[0]?.n) await db.query(`delete from ${s}.${table}`);
    }
    await db.query(`delete from ${s}.crm_identity`);
  }
  await db.query(`insert into ${s}.crm_identity (identity) values ($1)`, [identity]);
  return recorded === undefined ? 'recorded' : 'rebaselined';
}
