import type { Observable } from 'rxjs';
import type { MailboxSignal } from './mailbox-signal.js';
import type { MailboxRegistry } from './mailbox-registry.js';

/**
 * The Exchange side's port: one hot stream of change signals for every mailbox of the
 * directory, whatever the mode (EwsStream or EwsPull), and the mailboxes' states.
 */
export interface MailboxChangeSource {
  readonly mode: 'EwsStream' | 'EwsPull';
  readonly signals: Observable<MailboxSignal>;
  readonly mailboxes: MailboxRegistry;
  start(): void;
  /** Stops: no new signals, unsubscribes, closes connections, saves positions already acked. */
  stop(): Promise<void>;
  /** Closes the gap with SyncFolderItems from the current position (one mailbox, or all). */
  resync(mailbox?: string): void;
  pause(mailbox: string): void;
  resume(mailbox: string): void;
  /** Numbers for /status and tests. */
  stats(): SourceStats;
}

export interface SourceStats {
  readonly mailboxes: number;
  readonly connections: number;
  readonly syncRuns: number;
  readonly outstandingSignals: number;
  readonly initialSyncDone: number;
  /** Present while Exchange keeps losing every subscription and the mailboxes wait for one probe to hold. */
  readonly losingSubscriptions?: { readonly since: number; readonly probe: string; readonly probes: number; readonly waiting: number };
}
