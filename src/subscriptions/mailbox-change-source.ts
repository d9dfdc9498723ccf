import type { Observable } from 'rxjs';
import type { AdviseMode } from '../config/index.js';
import type { MailboxSignal } from './mailbox-signal.js';
import type { MailboxRegistry } from './mailbox-registry.js';

/**
 * The Exchange side's change port: one hot stream of change signals for every mailbox of the
 * directory, whatever the mode <advise> chose, and the mailboxes' states.
 */
export interface MailboxChangeSource {
  readonly mode: AdviseMode;
  readonly signals: Observable<MailboxSignal>;
  readonly mailboxes: MailboxRegistry;
  start(): void;
  /** Stops: no new signals, unsubscribes, closes connections, saves positions already acked. */
  stop(): Promise<void>;
  /** Closes the gap by reading changes from the current position (one mailbox, or all). */
  resync(mailbox?: string): void;
  /**
   * Reads mailboxes again from scratch (one, or all it holds): every item in the window, and a
   * delete for each mapped item no longer there — an operator's `resync`, a changed sync policy.
   * How many mailboxes it reads.
   */
  snapshot(mailbox?: string): number;
  pause(mailbox: string): void;
  /** Whether the source has the mailbox now (not let go of it). */
  holds(mailbox: string): boolean;
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
