import type { FolderKind } from './mailbox-store.js';
import type { MailboxPositionKind } from './mailbox-position.js';

/** One change of a folder since a position: the item (no data; read in batches later) and what happened to it. */
export interface FolderChange {
  readonly type: 'Create' | 'Update' | 'Delete';
  readonly itemId: string;
  readonly changeKey?: string;
  /** For the window filtering of a first read (UTC ISO strings). */
  readonly start?: string;
  readonly end?: string;
  readonly recurring?: boolean;
  /** Only when asked for (a listing for verify): what the sync policy's item rules look at. */
  readonly categories?: readonly string[];
  readonly private?: boolean;
}

/** A page of changes, and the position it leads to. `complete`: nothing more is there now. */
export interface FolderChangePage {
  readonly position: string;
  readonly complete: boolean;
  readonly changes: readonly FolderChange[];
}

/**
 * How a source reads what changed in a mailbox folder since a saved position — the truth
 * behind every notification (EWS: SyncFolderItems and its SyncState; Graph: a delta query and
 * its delta link). A null position reads the folder from the start. A position the server no
 * longer knows fails with category 'position-invalid'.
 */
export interface FolderChangeReader {
  readonly positionKind: MailboxPositionKind;
  /** The protocol's name for a read, for log lines ("SyncFolderItems", "delta"). */
  readonly operation: string;
  readChanges(mailbox: string, folder: FolderKind, position: string | null, maxChanges: number): Promise<FolderChangePage>;
}
