import type { ItemFields } from '../shared/item-fields.js';

/** The mailbox folders the sync works with. */
export type FolderKind = 'calendar' | 'tasks' | 'contacts';

/**
 * Properties an update leaves as the mailbox has them (fields the operator does not let travel
 * to Exchange, <sync><field>): the time is `start`, a task's state `done`.
 */
export type KeptProperties = ReadonlySet<keyof ItemFields>;

/** What an item update did. A conflict without a ChangeKey: the item changed between read and write. */
export type UpdateOutcome =
  | { readonly status: 'updated'; readonly changeKey: string }
  | { readonly status: 'missing' }
  | { readonly status: 'conflict'; readonly changeKey?: string; readonly modified?: string };

/** One id of a GetItem batch: the item, or missing (deleted since). */
export interface FetchedItem {
  readonly itemId: string;
  readonly item?: ItemFields;
  readonly missing?: true;
}

/** One item of a folder as a full listing shows it (what verify compares with the CRM). */
export interface ListedItem {
  readonly itemId: string;
  readonly changeKey?: string;
  /** Appointments: the item's span (UTC ISO), to tell whether it is inside the sync window. */
  readonly start?: string;
  readonly end?: string;
  readonly recurring?: boolean;
  /** What the sync policy's item rules look at (categories, private), so verify can tell an item they keep out. */
  readonly categories?: readonly string[];
  readonly private?: boolean;
}

/**
 * What the handlers and the operator's tools need from a mailbox, whatever protocol reaches it
 * (EWS today, Microsoft Graph next): the item operations. How a source learns that a folder
 * changed is not here — that is each protocol's change channel. Every failure is an
 * ExchangeError; its category says what it means.
 */
export interface MailboxStore {
  /** Where the mailboxes are reached (for logs and the status page). */
  readonly url: string;
  /** Creates an appointment (calendar) or task (tasks) stamped with the CRM record's id. */
  createItem(mailbox: string, folder: FolderKind, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }>;
  /** The item stamped with this CRM id, if the folder has one (to finish a create that was cut short). */
  findStamped(mailbox: string, folder: FolderKind, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined>;
  /**
   * Overwrites the item's synced fields. With `ifChangeKey`, only if the item is still at that
   * version: otherwise nothing is written and the item's current version is returned.
   */
  updateItem(mailbox: string, folder: FolderKind, itemId: string, fields: ItemFields, ifChangeKey?: string, keep?: KeptProperties): Promise<UpdateOutcome>;
  /**
   * Changes (fields) or deletes (null) one occurrence of a series, found by its original
   * start. Returns the series' ChangeKey before (as read to find the occurrence) and after the
   * write; undefined when the series or that occurrence is gone.
   */
  updateOccurrence(mailbox: string, masterItemId: string, originalStart: string, fields: ItemFields | null, keep?: KeptProperties): Promise<{ before: string; after: string } | undefined>;
  /** Deletes (to Deleted Items); false when it was already gone. */
  deleteItem(mailbox: string, itemId: string): Promise<boolean>;
  /**
   * A contact folder under the mailbox's Contacts folder named `displayName`: created, or the
   * one of that name already there (a create cut short is adopted, never doubled). Its id.
   */
  ensureContactFolder(mailbox: string, displayName: string): Promise<string>;
  /** Renames a folder; false when it is gone. */
  renameFolder(mailbox: string, folderId: string, displayName: string): Promise<boolean>;
  /** Deletes a folder with its items; false when it was gone already. */
  deleteFolder(mailbox: string, folderId: string): Promise<boolean>;
  /**
   * Creates contacts in a folder, each stamped with its CRM id, in as few CreateItem requests
   * as the batch size allows. One result per entry, in order: the new item, or why it failed.
   */
  createContacts(mailbox: string, folderId: string, entries: ReadonlyArray<{ fields: ItemFields; crmId: string }>): Promise<Array<{ itemId: string; changeKey: string } | { error: Error }>>;
  /** The items of a folder stamped with a CRM id: CRM id → item (to adopt what an interrupted batch made). */
  stampedIn(mailbox: string, folderId: string): Promise<Map<string, { itemId: string; changeKey: string }>>;
  /** Deletes items for good (copies the sync owns), in batches; ids already gone are no error. */
  deleteItems(mailbox: string, itemIds: readonly string[]): Promise<void>;
  /** Items by id, batched (EWS: one GetItem for up to 100 ids of one folder), normalised. */
  getItems(mailbox: string, folder: FolderKind, itemIds: readonly string[]): Promise<FetchedItem[]>;
  /** Every item of a folder as the server lists it now, not as the sync last saw it. */
  listFolder(mailbox: string, folder: FolderKind): Promise<ListedItem[]>;
  close(): Promise<void>;
}
