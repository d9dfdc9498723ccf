import type { Observable } from 'rxjs';
import type { ExchangeError } from '../shared/errors.js';
export type { FetchedItem, FolderKind, KeptProperties, ListedItem, MailboxStore, UpdateOutcome } from '../exchange/index.js';
import type { FolderChange, FolderKind, MailboxStore } from '../exchange/index.js';

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

/** One change SyncFolderItems reports: the neutral folder change. */
export type SyncChange = FolderChange;

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

/**
 * The EWS side as one object: the neutral mailbox store (item operations) and EWS's change
 * channel — folder ids, SyncFolderItems, pull and streaming subscriptions — which only the
 * EWS sources use. Every failure is an EwsError, an ExchangeError with the ResponseCode.
 */
export interface ExchangePort extends MailboxStore {
  /** Folder ids of the distinguished folders of a mailbox (to tell which folder an event is about). */
  folderIds(mailbox: string, folders: readonly FolderKind[]): Promise<Record<string, FolderKind>>;
  syncFolderItems(mailbox: string, folder: FolderKind, syncState: string | null, maxChanges: number): Promise<SyncPage>;
  subscribePull(mailbox: string, folders: readonly FolderKind[], timeoutMinutes: number, watermark?: string): Promise<{ subscriptionId: string; watermark: string }>;
  getEvents(mailbox: string, subscriptionId: string, watermark: string): Promise<PullEvents>;
  subscribeStreaming(mailbox: string, folders: readonly FolderKind[], group: AffinityGroup): Promise<string>;
  /** One GetStreamingEvents connection; completes when the server closes it, errors when it breaks. */
  streamEvents(group: AffinityGroup, subscriptionIds: readonly string[], lifetimeMinutes: number): Observable<StreamMessage>;
  unsubscribe(mailbox: string, subscriptionId: string, group?: AffinityGroup): Promise<void>;
}
