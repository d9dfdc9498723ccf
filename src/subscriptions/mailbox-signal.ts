import type { FolderKind, MailboxPositionKind } from '../exchange/index.js';

/** c: created, u: updated, d: deleted, r: resync (the item as it is now, after a gap or at first sync). */
export type SignalOp = 'c' | 'u' | 'd' | 'r';

/**
 * "This item of this mailbox changed": what the Exchange side tells the pipeline. It carries
 * no item data (the pipeline fetches that in batches) and must be acknowledged once the
 * next stage has it; only then can the mailbox folder's position be saved.
 */
export interface MailboxSignal {
  readonly mailbox: string;
  readonly folder: FolderKind;
  readonly op: SignalOp;
  readonly itemId: string;
  readonly changeKey?: string;
  /** A series' master (undefined: not known). */
  readonly recurring?: boolean;
  /** When the source learned of the change (ms), for latency. */
  readonly detectedAt: number;
  /** The position this signal's batch leads to (the one it helps to save), opaque. */
  readonly position: string;
  /** Whose position it is (an EWS SyncState, a Graph delta link). */
  readonly positionKind: MailboxPositionKind;
  /** Tell the source the next stage has this change. Idempotent. */
  ack(): void;
}

export type MailboxState = 'subscribing' | 'syncing' | 'active' | 'backing-off' | 'failed' | 'paused';

export interface MailboxStatus {
  readonly mailbox: string;
  readonly state: MailboxState;
  readonly since: number;
  readonly reason?: string;
  readonly lastEventAt?: number;
  readonly lastSyncAt?: number;
  readonly initialSyncDone: boolean;
}
