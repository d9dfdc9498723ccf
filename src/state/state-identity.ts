import { assertIdentifier } from './database.js';
import type { Database } from './database.js';

/**
 * The sync's state (mappings, positions) belongs to one CRM and one Exchange organisation.
 * Pointed at another — a new CRM database, schema or tenant; another Exchange server, domain
 * or tenant, or a fresh sandbox — with the old state kept, its mappings would swallow the new
 * side's changes (an item already "mapped" is updated in a record that is not there) or read
 * the old side's items as deleted. So both identities are recorded with the state, and a
 * start against another is refused unless the operator asks to re-baseline: forget the
 * mappings and positions, read every mailbox anew and create its items in the CRM.
 */
export type StateSide = 'crm' | 'exchange';

export class StateOfAnotherSide extends Error {
  readonly code: 'STATE_OF_ANOTHER_CRM' | 'STATE_OF_ANOTHER_EXCHANGE';
  constructor(readonly side: StateSide, readonly recorded: string, readonly current: string, schema: string) {
    super(side === 'crm'
      ? `the sync state in schema "${schema}" belongs to the CRM ${recorded}, not ${current}: its mappings would swallow this CRM's changes. `
        + 'Start with --rebaseline to forget them (every mailbox is read anew and its items are created in this CRM), or give this CRM a state schema of its own (<state schema>)'
      : `the sync state in schema "${schema}" belongs to the Exchange organisation ${recorded}, not ${current}: its mappings name items of the other Exchange, and this one's mailboxes would make them look deleted. `
        + 'If it is the same organisation, now reached through Microsoft Graph instead of EWS, start with --move-to-graph (the mappings are kept, item ids translated). '
        + 'Otherwise start with --rebaseline to forget them (every mailbox is read anew, nothing is deleted in the CRM), or give this Exchange a state schema of its own (<state schema>)');
    this.code = side === 'crm' ? 'STATE_OF_ANOTHER_CRM' : 'STATE_OF_ANOTHER_EXCHANGE';
  }
}

export type IdentityOutcome = 'recorded' | 'same' | 'rebaselined' | 'adopted';

/** The table a side's identity is recorded in (made if missing). */
export async function ensureIdentityTable(db: Database, schema: string, side: StateSide): Promise<string> {
  const table = `${assertIdentifier(schema)}.${side}_identity`;
  await db.query(`create table if not exists ${table} (identity text not null, recorded timestamptz not null default now())`);
  return table;
}

/** Records `identity` as the state's `side`, or compares it with the one recorded. */
export async function checkStateIdentity(db: Database, schema: string, side: StateSide, identity: string, rebaseline: boolean, adopt = false): Promise<IdentityOutcome> {
  const table = await ensureIdentityTable(db, schema, side);
  const { rows } = await db.query<{ identity: string }>(`select identity from ${table} limit 1`);
  const recorded = rows[0]?.identity;
  if (recorded === identity) return 'same';
  if (recorded !== undefined && adopt) {
    // the same organisation reached another way (EWS → Graph): the state is kept, under the new name
    await db.query(`update ${table} set identity = $1, recorded = now()`, [identity]);
    return 'adopted';
  }
  if (recorded !== undefined && !rebaseline) throw new StateOfAnotherSide(side, recorded, identity, schema);
  if (recorded !== undefined) {
    await forgetState(db, schema);
    await db.query(`delete from ${table}`);
  }
  await db.query(`insert into ${table} (identity) values ($1)`, [identity]);
  return recorded === undefined ? 'recorded' : 'rebaselined';
}

/** A re-baseline: what belonged to the other side goes — mappings, half-made creates, every position. */
export async function forgetState(db: Database, schema: string): Promise<void> {
  for (const t of ['item_map', 'create_note', 'position']) {
    const exists = await db.query<{ n: number }>(`select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = $2`, [schema, t]);
    if (exists.rows[0]?.n) await db.query(`delete from ${assertIdentifier(schema)}.${t}`);
  }
}

export const checkCrmIdentity = (db: Database, schema: string, identity: string, rebaseline: boolean): Promise<IdentityOutcome> =>
  checkStateIdentity(db, schema, 'crm', identity, rebaseline);
