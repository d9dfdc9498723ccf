import { merge, Subject, type Observable } from 'rxjs';
import type { Logger } from '../shared/logger.js';
import type { PositionStore } from '../state/position-store.js';
import type { MailboxDirectory, MailboxHome } from './mailbox-directory.js';
import type { ExchangeProtocol } from './open-exchange-side.js';
import { recordedMailboxProtocol, recordedMailboxProtocols, recordMailboxProtocol } from './rebase-positions.js';

const PROTOCOL_OF_HOME: Record<MailboxHome, ExchangeProtocol> = { 'on-premises': 'ews', online: 'graph' };

/** Where a mailbox lives by someone's word, and whose: the mailbox file's, or Autodiscover's. */
export interface PlacedHome {
  readonly home: MailboxHome;
  readonly by: 'the mailbox file' | 'the CRM' | 'Autodiscover';
}

/** Where the listed mailboxes live, by the operator's file and by asking Exchange; one may say nothing of a mailbox. */
export type HomesOf = (mailboxes: readonly string[]) => Promise<ReadonlyMap<string, PlacedHome>>;

/**
 * Where each mailbox of a hybrid organisation is synced: EWS (on premises) or Microsoft Graph
 * (Exchange Online). The sync state's record wins — a mailbox's ids and positions are one
 * protocol's, and only a move (`migrate --to graph`, or a start that finds the operator's list
 * saying "online") carries them to the other; a mailbox the state does not know yet goes where
 * the operator's list says, else the CRM, else Autodiscover, else on premises, and is recorded there.
 */
export class MailboxPlacement {
  private readonly recorded = new Map<string, ExchangeProtocol>();
  private operator = new Map<string, PlacedHome>();
  private readonly warned = new Set<string>();
  /** Mailboxes whose state is being moved now: neither source reads them, their writes wait. */
  private readonly moving = new Set<string>();
  /** Emits when a mailbox changed protocol (the sources' directories are read again). */
  readonly changes = new Subject<void>();
  /** Told when the on-premises side refuses a mailbox; answers whether it may be moving (being followed). */
  private follower: ((mailbox: string) => boolean) | undefined;

  constructor(private readonly positions: PositionStore, private readonly homes: HomesOf | undefined, private readonly logger: Logger) {}

  /**
   * Reads what the state recorded (at start, and after a move made by another process), and
   * where the listed mailboxes live (by default those recorded on premises).
   */
  async load(listed?: readonly string[]): Promise<void> {
    this.recorded.clear();
    for (const [mailbox, protocol] of await recordedMailboxProtocols(this.positions)) this.recorded.set(mailbox, protocol);
    await this.readHomes(listed ?? [...this.recorded].filter(([, p]) => p === 'ews').map(([m]) => m));
  }

  /** The protocol a mailbox is synced through now. */
  protocolOf(mailbox: string): ExchangeProtocol {
    const placed = this.operator.get(mailbox);
    return this.recorded.get(mailbox) ?? (placed ? PROTOCOL_OF_HOME[placed.home] : 'ews');
  }

  /** Where the mailbox file or Autodiscover says a mailbox lives, if either does. */
  homeOf(mailbox: string): PlacedHome | undefined {
    return this.operator.get(mailbox);
  }

  /** Mailboxes listed now whose state is on premises and that the file or Autodiscover puts online: to move. */
  toMove(mailboxes: readonly string[]): string[] {
    return mailboxes.filter((m) => this.recorded.get(m) === 'ews' && this.operator.get(m)?.home === 'online');
  }

  /**
   * The mailboxes of a list that go through one protocol; those the state did not know are
   * recorded where they go. A home changed in the file for a mailbox already synced is said
   * once: it takes effect with a move, never by reading the mailbox anew through the other side.
   */
  async filter(mailboxes: readonly string[], protocol: ExchangeProtocol): Promise<string[]> {
    await this.readHomes(mailboxes);
    for (const m of mailboxes) {
      const placed = this.operator.get(m);
      const home = placed?.home;
      const recorded = this.recorded.get(m);
      if (recorded === undefined) {
        const chosen = home ? PROTOCOL_OF_HOME[home] : 'ews';
        this.recorded.set(m, chosen);
        await recordMailboxProtocol(this.positions, m, chosen);
      } else if (home && PROTOCOL_OF_HOME[home] !== recorded && !this.warned.has(m)) {
        this.warned.add(m);
        this.logger.warn({ event: 'placement.home-changed', mailbox: m, home, by: placed.by, syncedThrough: recorded },
          recorded === 'ews'
            ? `${m}: ${placed.by} says it is online, and the sync state is on premises: it is moved at the next start, or now with \`exchange-crm-sync migrate --to graph ${m}\` (or followed once the on-premises server refuses it); synced over EWS until then`
            : `${m}: ${placed.by} says it is on premises, and its sync state is Microsoft Graph's: moving back from Exchange Online is not supported; it stays on Graph`);
      }
    }
    return mailboxes.filter((m) => !this.moving.has(m) && this.protocolOf(m) === protocol);
  }

  /** Whether a mailbox's state is being moved now. */
  isMoving(mailbox: string): boolean {
    return this.moving.has(mailbox);
  }

  /** A move begins: the mailbox leaves its source; its writes wait (a retriable error) until it is done. */
  beginMove(mailbox: string): void {
    this.moving.add(mailbox);
    this.changes.next();
  }

  /** A move that failed: the mailbox goes back to the protocol it was recorded with. */
  abortMove(mailbox: string): void {
    if (this.moving.delete(mailbox)) this.changes.next();
  }

  /** A mailbox's state now belongs to another protocol (recorded by the move, in its transaction). */
  moved(mailbox: string, protocol: ExchangeProtocol): void {
    this.recorded.set(mailbox, protocol);
    this.moving.delete(mailbox);
    this.warned.delete(mailbox);
    this.changes.next();
  }

  /**
   * One mailbox's record read again (another instance may have moved it): true when it changed.
   * Asked when a side refuses the mailbox, a rare path.
   */
  async refresh(mailbox: string): Promise<boolean> {
    const now = await recordedMailboxProtocol(this.positions, mailbox);
    if (now === undefined || now === this.recorded.get(mailbox)) return false;
    this.moved(mailbox, now);
    return true;
  }

  /** Who looks for a mailbox the on-premises side refuses in Exchange Online (the live mover). */
  followWith(follower: (mailbox: string) => boolean): void {
    this.follower = follower;
  }

  /**
   * The on-premises side refused a mailbox synced through it (gone, or moving): whether it may
   * be on its way to Exchange Online — then its writes wait instead of failing for good.
   */
  refusedOnPremises(mailbox: string): boolean {
    return this.protocolOf(mailbox) === 'ews' && (this.follower?.(mailbox) ?? false);
  }

  /** What is synced where: counts for the status page. */
  counts(mailboxes: readonly string[]): Record<ExchangeProtocol, number> {
    const out: Record<ExchangeProtocol, number> = { ews: 0, graph: 0 };
    for (const m of mailboxes) out[this.protocolOf(m)]++;
    return out;
  }

  private async readHomes(mailboxes: readonly string[]): Promise<void> {
    if (!this.homes) return;
    try {
      // a mailbox whose state is Graph's stays there (no move back): not asked about
      this.operator = new Map(await this.homes(mailboxes.filter((m) => this.recorded.get(m) !== 'graph')));
    } catch (err) {
      this.logger.error({ err, event: 'placement.read-failed' }, 'reading the mailboxes\' homes failed; keeping the last ones');
    }
  }
}

/** The share of a directory synced through one protocol of a hybrid organisation. */
export class PlacedDirectory implements MailboxDirectory {
  readonly description: string;
  readonly changes: Observable<unknown>;

  constructor(private readonly inner: MailboxDirectory, private readonly placement: MailboxPlacement, private readonly protocol: ExchangeProtocol) {
    this.description = `${inner.description} (${protocol === 'ews' ? 'on premises' : 'Exchange Online'})`;
    this.changes = inner.changes ? merge(inner.changes, placement.changes) : placement.changes;
  }

  async list(): Promise<string[]> {
    return this.placement.filter(await this.inner.list(), this.protocol);
  }
}
