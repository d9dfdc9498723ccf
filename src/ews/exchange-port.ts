import type { Observable } from 'rxjs';
import type { ExchangeError } from '../shared/errors.js';
import type { ItemFields } from '../shared/item-fields.js';

/** The mailbox folders the sync works with. */
export type FolderKind = 'calendar' | 'tasks' | 'contacts';

export type NotificationType = 'Created' | 'Modified' | 'Deleted' | 'Moved' | 'Copied' | 'NewMail' | 'FreeBusyChanged' | 'Status';

/** One event of a pull or streaming notification. */
export interface NotificationEvent {
  readonly type: NotificationType;
  /** Item events carry itemId; folder events carry folderId. */
  readonly itemId?: string;
  readonly folderId?: string;
  readonly parentFolderId?: string;
  readonly oldItemId?: string;
  readonly oldParentFolderId?: string;
  readonly watermark?: string;
  readonly time?: number;
}

export interface SyncChange {
  readonly type: 'Create' | 'Update' | 'Delete';
  readonly itemId: string;
  readonly changeKey?: string;
  /** For window filtering of the initial sync (UTC ISO strings). */
  readonly start?: string;
  readonly end?: string;
  readonly recurring?: boolean;
}

export interface SyncPage {
  readonly syncState: string;
  readonly includesLastItemInRange: boolean;
  readonly changes: readonly SyncChange[];
}

export interface PullEvents {
  readonly events: readonly NotificationEvent[];
  readonly moreEvents: boolean;
  /** The watermark to pass next time. */
  readonly watermark: string;
}

/** Subscriptions of one group share one streaming connection and one mailbox server. */
export interface AffinityGroup {
  /** X-AnchorMailbox: the group's first mailbox. */
  readonly anchorMailbox: string;
  /**
   * The mailbox a GetStreamingEvents impersonates — whose budget (HangingConnectionLimit) the
   * connection is charged to. Default: the anchor; another member when the anchor's is full.
   */
  readonly connectingMailbox?: string;
}

export type StreamMessage =
  /** The server took the connection (HTTP 200): from now on it, not an earlier one, serves the subscriptions it names. */
  | { readonly type: 'open' }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'notifications'; readonly notifications: ReadonlyArray<{ readonly subscriptionId: string; readonly events: readonly NotificationEvent[] }> }
  /** The server dropped events of these subscriptions (they live on): close the gap from the saved position. */
  | { readonly type: 'events-missed'; readonly subscriptionIds: readonly string[] }
  /** These subscriptions failed (lost, denied): what it means is the error's category. */
  | { readonly type: 'subscription-errors'; readonly error: ExchangeError; readonly subscriptionIds: readonly string[] }
  | { readonly type: 'closed' };

/** What an UpdateItem did. A conflict without a ChangeKey: the item changed between read and write. */
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

/**
 * What the rest of the program needs from Exchange, in our terms. Every failure is an
 * EwsError (code = EWS ResponseCode, retriable, BackOffMilliseconds).
 */
export interface ExchangePort {
  readonly url: string;
  /** Folder ids of the distinguished folders of a mailbox (to tell which folder an event is about). */
  folderIds(mailbox: string, folders: readonly FolderKind[]): Promise<Record<string, FolderKind>>;
  syncFolderItems(mailbox: string, folder: FolderKind, syncState: string | null, maxChanges: number): Promise<SyncPage>;
  subscribePull(mailbox: string, folders: readonly FolderKind[], timeoutMinutes: number, watermark?: string): Promise<{ subscriptionId: string; watermark: string }>;
  getEvents(mailbox: string, subscriptionId: string, watermark: string): Promise<PullEvents>;
  subscribeStreaming(mailbox: string, folders: readonly FolderKind[], group: AffinityGroup): Promise<string>;
  /** One GetStreamingEvents connection; completes when the server closes it, errors when it breaks. */
  streamEvents(group: AffinityGroup, subscriptionIds: readonly string[], lifetimeMinutes: number): Observable<StreamMessage>;
  unsubscribe(mailbox: string, subscriptionId: string, group?: AffinityGroup): Promise<void>;
  /** Creates an appointment (calendar) or task (tasks) stamped with the CRM record's id. */
  createItem(mailbox: string, folder: FolderKind, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }>;
  /** The item stamped with this CRM id, if the folder has one (to finish a create that was cut short). */
  findStamped(mailbox: string, folder: FolderKind, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined>;
  /**
   * Overwrites the item's synced fields. With `ifChangeKey`, only if the item is still at that
   * version: otherwise nothing is written and the item's current version is returned.
   */
  updateItem(mailbox: string, folder: FolderKind, itemId: string, fields: ItemFields, ifChangeKey?: string): Promise<UpdateOutcome>;
  /**
   * Changes (fields) or deletes (null) one occurrence of a series, found by its original
   * start. Returns the series' ChangeKey before (as read to find the occurrence) and after the
   * write; undefined when the series or that occurrence is gone.
   */
  updateOccurrence(mailbox: string, masterItemId: string, originalStart: string, fields: ItemFields | null): Promise<{ before: string; after: string } | undefined>;
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
  /** Batched GetItem (one request for up to 100 ids of one folder), normalised. */
  getItems(mailbox: string, folder: FolderKind, itemIds: readonly string[]): Promise<FetchedItem[]>;
  close(): Promise<void>;
}
