// Do the mailboxes and the CRM agree, item by item? Compares the sandbox's inventory with
// the sync's mappings and the CRM's rows: every item has exactly one live row at the
// item's current version, no row is left over, no deleted item still has a row.
import type { Database } from '../../src/state/database.js';

export type Inventory = Record<string, Record<string, string>>;

export interface Agreement {
  readonly items: number;
  readonly rows: number;
  /** Items with no live mapping or whose row is gone. */
  readonly missing: number;
  /** Items whose mapping holds an older ChangeKey than the item has (a lost update). */
  readonly stale: number;
  /** Live mappings of items that no longer exist (a lost delete). */
  readonly ghosts: number;
  /** Rows no live mapping points at (a duplicate, or a row the sync never linked). */
  readonly unlinkedRows: number;
  /** The first few of each kind, "mailbox item" (what a failing test prints to chase it). */
  readonly examples?: { readonly missing: string[]; readonly stale: string[]; readonly ghosts: string[] };
}

export async function fetchInventory(sandboxBase: string): Promise<Inventory> {
  return (await (await fetch(`${sandboxBase}/sandbox/inventory`)).json()) as Inventory;
}

/**
 * `crmRecords`: every appointment record of the CRM (its typed id, "appointment:42"), however
 * the CRM is read (SQL, the SuperOffice simulator's database).
 */
export async function checkAgreement(db: Database, stateSchema: string, crmRecords: readonly string[], inventory: Inventory): Promise<Agreement> {
  const { rows: mappings } = await db.query<{ mailbox: string; item_id: string; crm_id: string; change_key: string }>(
    // appointments and tasks (contacts are compared on their own)
    `select mailbox, item_id, crm_id, change_key from ${stateSchema}.item_map where not deleted and coalesce(folder, 'calendar') <> 'contacts'`,
  );
  const rowIds = new Set(crmRecords);
  const byItem = new Map(mappings.filter((m) => !m.item_id.includes('@')).map((m) => [`${m.mailbox}|${m.item_id}`, m]));
  let items = 0;
  let missing = 0;
  let stale = 0;
  const examples = { missing: [] as string[], stale: [] as string[], ghosts: [] as string[] };
  const note = (list: string[], what: string): void => void (list.length < 5 && list.push(what));
  for (const [mailbox, contents] of Object.entries(inventory)) {
    for (const [itemId, changeKey] of Object.entries(contents)) {
      items++;
      const m = byItem.get(`${mailbox}|${itemId}`);
      if (!m || !rowIds.has(m.crm_id)) {
        missing++;
        note(examples.missing, `${mailbox} ${itemId}`);
      } else if (m.change_key !== changeKey) {
        stale++;
        note(examples.stale, `${mailbox} ${itemId}`);
      }
    }
  }
  // a series' exception rows are mapped as "<series ItemId>@<original start>": not items of their own
  const ghostMappings = mappings.filter((m) => inventory[m.mailbox] && !m.item_id.includes('@') && !(m.item_id in inventory[m.mailbox]));
  for (const m of ghostMappings) note(examples.ghosts, `${m.mailbox} ${m.item_id} ${m.crm_id}`);
  const ghosts = ghostMappings.length;
  const linked = new Set(mappings.map((m) => m.crm_id));
  const unlinkedRows = crmRecords.filter((r) => !linked.has(r)).length;
  return { items, rows: crmRecords.length, missing, stale, ghosts, unlinkedRows, examples };
}

/** Every appointment record of a reference CRM schema, as typed ids. */
export async function referenceRecords(db: Database, crmSchema: string): Promise<string[]> {
  return (await db.query<{ appointment_id: number }>(`select appointment_id from ${crmSchema}.appointment`)).rows.map((r) => `appointment:${r.appointment_id}`);
}
