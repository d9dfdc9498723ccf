import type { CrmRef } from '../crm-adapter/crm-port.js';
import { assertIdentifier, type Database } from '../state/database.js';

/** A selection's contact folder in one subscriber's mailbox. */
export interface SelectionFolder {
  readonly mailbox: string;
  readonly selectionRef: CrmRef;
  readonly folderId: string;
  /** The name the folder was given (the selection's name then). */
  readonly name: string;
}

/** A person's copy in a selection folder: written by the sync alone (one direction). */
export interface SelectionCopy {
  readonly mailbox: string;
  readonly selectionRef: CrmRef;
  readonly personRef: CrmRef;
  readonly itemId: string;
  /** The person's version the copy was written from ('' : unknown, written again). */
  readonly personVersion: string;
}

interface FolderRow {
  mailbox: string;
  selection_ref: string;
  folder_id: string;
  name: string;
}

interface CopyRow {
  mailbox: string;
  selection_ref: string;
  person_ref: string;
  item_id: string;
  person_version: string;
}

const copyOf = (r: CopyRow): SelectionCopy => ({ mailbox: r.mailbox, selectionRef: r.selection_ref, personRef: r.person_ref, itemId: r.item_id, personVersion: r.person_version });

/** Rows per multi-row insert (PostgreSQL's bind parameters are capped at 65,535). */
const INSERT_ROWS = 1_000;

/**
 * Which contact folder each selection has in each subscriber's mailbox, and which item
 * there is each member's copy — the sync's state, so a selection is reconciled by
 * difference (only what changed is written) and a crash repeats nothing twice.
 */
export class SelectionFolderStore {
  private readonly folders: string;
  private readonly copies: string;

  constructor(private readonly db: Database, schema: string) {
    const s = assertIdentifier(schema);
    this.folders = `${s}.selection_folder`;
    this.copies = `${s}.selection_copy`;
  }

  static async migrate(db: Database, schema: string): Promise<void> {
    const s = assertIdentifier(schema);
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.selection_folder (mailbox text not null, selection_ref text not null, folder_id text not null, name text not null, primary key (mailbox, selection_ref))`);
    await db.query(`create table if not exists ${s}.selection_copy (mailbox text not null, selection_ref text not null, person_ref text not null, item_id text not null,
      person_version text not null, primary key (mailbox, selection_ref, person_ref))`);
    await db.query(`create index if not exists selection_copy_person on ${s}.selection_copy (person_ref)`);
  }

  /** Every selection that has a folder somewhere. */
  async selectionRefs(): Promise<CrmRef[]> {
    return (await this.db.query<{ selection_ref: string }>(`select distinct selection_ref from ${this.folders}`)).rows.map((r) => r.selection_ref);
  }

  async foldersOf(selectionRef: CrmRef): Promise<SelectionFolder[]> {
    const { rows } = await this.db.query<FolderRow>(`select * from ${this.folders} where selection_ref = $1 order by mailbox`, [selectionRef]);
    return rows.map((r) => ({ mailbox: r.mailbox, selectionRef: r.selection_ref, folderId: r.folder_id, name: r.name }));
  }

  /** Every mailbox with a selection folder. */
  async mailboxes(): Promise<string[]> {
    return (await this.db.query<{ mailbox: string }>(`select distinct mailbox from ${this.folders} order by mailbox`)).rows.map((r) => r.mailbox);
  }

  /** The selection folders of one mailbox. */
  async foldersIn(mailbox: string): Promise<SelectionFolder[]> {
    const { rows } = await this.db.query<FolderRow>(`select * from ${this.folders} where mailbox = $1 order by selection_ref`, [mailbox]);
    return rows.map((r) => ({ mailbox: r.mailbox, selectionRef: r.selection_ref, folderId: r.folder_id, name: r.name }));
  }

  /**
   * A folder and its copies found again under other ids (the mailbox reached through another
   * protocol): the folder's id, and each copy's item id by person; copies not found are forgotten
   * (the selection's next reconciliation writes them).
   */
  async rebaseFolder(mailbox: string, selectionRef: CrmRef, folderId: string, itemIds: ReadonlyMap<CrmRef, string>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`update ${this.folders} set folder_id = $3 where mailbox = $1 and selection_ref = $2`, [mailbox, selectionRef, folderId]);
      const { rows } = await tx.query<{ person_ref: string }>(`select person_ref from ${this.copies} where mailbox = $1 and selection_ref = $2`, [mailbox, selectionRef]);
      for (const { person_ref: person } of rows) {
        const itemId = itemIds.get(person);
        if (itemId === undefined) await tx.query(`delete from ${this.copies} where mailbox = $1 and selection_ref = $2 and person_ref = $3`, [mailbox, selectionRef, person]);
        else await tx.query(`update ${this.copies} set item_id = $4 where mailbox = $1 and selection_ref = $2 and person_ref = $3`, [mailbox, selectionRef, person, itemId]);
      }
    });
  }

  async saveFolder(f: SelectionFolder): Promise<void> {
    await this.db.query(
      `insert into ${this.folders} (mailbox, selection_ref, folder_id, name) values ($1, $2, $3, $4)
       on conflict (mailbox, selection_ref) do update set folder_id = excluded.folder_id, name = excluded.name`, [f.mailbox, f.selectionRef, f.folderId, f.name]);
  }

  /** Forgets a folder and its copies (the folder was deleted, or is gone). */
  async removeFolder(mailbox: string, selectionRef: CrmRef): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`delete from ${this.copies} where mailbox = $1 and selection_ref = $2`, [mailbox, selectionRef]);
      await tx.query(`delete from ${this.folders} where mailbox = $1 and selection_ref = $2`, [mailbox, selectionRef]);
    });
  }

  async copiesIn(mailbox: string, selectionRef: CrmRef): Promise<Map<CrmRef, SelectionCopy>> {
    const { rows } = await this.db.query<CopyRow>(`select * from ${this.copies} where mailbox = $1 and selection_ref = $2`, [mailbox, selectionRef]);
    return new Map(rows.map((r) => [r.person_ref, copyOf(r)]));
  }

  /** Every copy of a person, in every selection folder. */
  async copiesOf(personRef: CrmRef): Promise<SelectionCopy[]> {
    const { rows } = await this.db.query<CopyRow>(`select * from ${this.copies} where person_ref = $1`, [personRef]);
    return rows.map(copyOf);
  }

  async saveCopies(copies: readonly SelectionCopy[]): Promise<void> {
    for (let i = 0; i < copies.length; i += INSERT_ROWS) {
      const chunk = copies.slice(i, i + INSERT_ROWS);
      const values = chunk.map((_, j) => `($${j * 5 + 1}, $${j * 5 + 2}, $${j * 5 + 3}, $${j * 5 + 4}, $${j * 5 + 5})`).join(', ');
      await this.db.query(
        `insert into ${this.copies} (mailbox, selection_ref, person_ref, item_id, person_version) values ${values}
         on conflict (mailbox, selection_ref, person_ref) do update set item_id = excluded.item_id, person_version = excluded.person_version`,
        chunk.flatMap((c) => [c.mailbox, c.selectionRef, c.personRef, c.itemId, c.personVersion]));
    }
  }

  async removeCopies(mailbox: string, selectionRef: CrmRef, personRefs: readonly CrmRef[]): Promise<void> {
    if (!personRefs.length) return;
    await this.db.query(`delete from ${this.copies} where mailbox = $1 and selection_ref = $2 and person_ref = any($3::text[])`, [mailbox, selectionRef, [...personRefs]]);
  }
}
