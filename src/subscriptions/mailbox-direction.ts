import { SYNC_DIRECTIONS, type SyncDirectionSetting, type Towards } from '../config/index.js';
import { merge, Subject, type Observable } from 'rxjs';
import type { Logger } from '../shared/logger.js';
import type { MailboxDirectory } from './mailbox-directory.js';

/** Which way a mailbox is synced: both ways, one way, or not at all (its mappings are kept). */
export type SyncDirection = SyncDirectionSetting;
export { SYNC_DIRECTIONS };

export type { Towards };

const CARRIES: Record<SyncDirection, readonly Towards[]> = { 'two-way': ['crm', 'exchange'], 'to-crm': ['crm'], 'to-exchange': ['exchange'], off: [] };

/** The directions at one moment: the fallback and each mailbox named (lower-case address). */
export interface DirectionSnapshot {
  readonly fallback: SyncDirection;
  readonly named: Readonly<Record<string, SyncDirection>>;
}

/** How many of each direction (what the policy names, for the log, /control/reload and validate-config). */
export function countByDirection(directions: Iterable<SyncDirection>): Record<SyncDirection, number> {
  const out: Record<SyncDirection, number> = { 'two-way': 0, 'to-crm': 0, 'to-exchange': 0, off: 0 };
  for (const d of directions) out[d]++;
  return out;
}

/** Whether a direction carries changes towards a side. */
export const carries = (direction: SyncDirection, towards: Towards): boolean => CARRIES[direction].includes(towards);

/**
 * Each mailbox's direction: what the mailbox file's direction column says, else the CRM (the
 * reference CRM's associate.sync_direction), else the file's <sync direction>. Read again with every listing of the mailboxes (the directory's refresh),
 * so a change of the file takes effect without a restart: a mailbox switched off leaves the
 * sources (its mappings stay), one switched to to-crm is not written to from the next change on.
 */
export class MailboxDirections {
  private perMailbox: ReadonlyMap<string, SyncDirection> = new Map();
  private readonly reloaded = new Subject<void>();
  /** Emits after a reload (SIGHUP, `exchange-crm-sync reload`): the mailboxes are listed again now. */
  readonly reloads: Observable<void> = this.reloaded.asObservable();
  /** The directions as last compared (restored from the state at start): what a switch is measured against. */
  private baseline: DirectionSnapshot | undefined;
  /** The directory's latest listing: who follows the fallback. */
  private listed: readonly string[] | undefined;
  private readonly turned = new Subject<{ mailboxes: string[]; snapshot: DirectionSnapshot }>();
  /**
   * Mailboxes that carry changes towards Exchange now and did not before (switched from off or
   * to-crm to two-way or to-exchange), with the directions to remember: the CRM's changes
   * skipped meanwhile are caught up.
   */
  readonly turnedTowardsExchange: Observable<{ mailboxes: string[]; snapshot: DirectionSnapshot }> = this.turned.asObservable();

  constructor(private defaultDirection: SyncDirection, private readonly read: (() => Promise<ReadonlyMap<string, SyncDirection>>) | undefined, private readonly logger: Logger) {}

  /** The direction of a mailbox nobody names (<sync direction>). */
  get fallback(): SyncDirection {
    return this.defaultDirection;
  }

  /** <sync direction> read again (a reload): from the next change on. */
  useFallback(direction: SyncDirection): void {
    if (direction !== this.defaultDirection) this.logger.info({ event: 'policy.direction-changed', mailbox: '*', direction }, `mailboxes nobody names are synced ${direction} from now on`);
    this.defaultDirection = direction;
    this.compare();
  }

  /** The directions a previous run left (undefined: none known, nothing is caught up at start). */
  restore(snapshot: DirectionSnapshot | undefined): void {
    this.baseline = snapshot;
  }

  /** The mailboxes the directory lists now (the first listing lets the comparison begin). */
  noteListed(mailboxes: readonly string[]): void {
    this.listed = mailboxes.map((m) => m.toLowerCase());
    this.compare();
  }

  snapshot(): DirectionSnapshot {
    return { fallback: this.defaultDirection, named: Object.fromEntries(this.perMailbox) };
  }

  /** Which mailboxes turned towards Exchange since the baseline; the baseline moves on. */
  private compare(): void {
    if (!this.listed) return;
    const now = this.snapshot();
    const before = this.baseline;
    this.baseline = now;
    if (!before) {
      this.turned.next({ mailboxes: [], snapshot: now });
      return;
    }
    const candidates = new Set([...Object.keys(before.named), ...Object.keys(now.named), ...(before.fallback !== now.fallback ? this.listed : [])]);
    const mailboxes = [...candidates].filter((m) => !carries(before.named[m] ?? before.fallback, 'exchange') && carries(now.named[m] ?? now.fallback, 'exchange'));
    if (mailboxes.length || JSON.stringify(before) !== JSON.stringify(now)) this.turned.next({ mailboxes, snapshot: now });
  }

  of(mailbox: string): SyncDirection {
    return this.perMailbox.get(mailbox.toLowerCase()) ?? this.fallback;
  }

  carries(mailbox: string, towards: Towards): boolean {
    return carries(this.of(mailbox), towards);
  }

  /** Reads the directions now and has the mailboxes listed again (a mailbox switched off leaves at once). */
  async reload(): Promise<void> {
    // a read under way may have begun before the change: wait for it, then read anew
    await this.reading;
    await this.refresh();
    this.reloaded.next();
  }

  /** The mailboxes the file or the CRM names, by direction. */
  named(): Record<SyncDirection, number> {
    return countByDirection(this.perMailbox.values());
  }

  async refresh(): Promise<void> {
    if (!this.read || this.reading) return this.reading;
    this.reading = this.readNow().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private reading: Promise<void> | undefined;

  private async readNow(): Promise<void> {
    if (!this.read) return;
    try {
      const next = await this.read();
      for (const [m, d] of next) if (this.perMailbox.get(m) !== d && this.perMailbox.size) this.logger.info({ event: 'policy.direction-changed', mailbox: m, direction: d }, `${m} is synced ${d} from now on`);
      this.perMailbox = next;
      this.compare();
    } catch (err) {
      this.logger.error({ err, event: 'policy.read-failed' }, 'reading the mailboxes\' directions failed; keeping the last ones');
    }
  }
}

/** The directory without the mailboxes switched off; each listing reads the directions again. */
export class DirectedDirectory implements MailboxDirectory {
  readonly description: string;
  readonly changes: Observable<unknown>;

  constructor(private readonly inner: MailboxDirectory, private readonly directions: MailboxDirections) {
    this.description = inner.description;
    this.changes = inner.changes ? merge(inner.changes, directions.reloads) : directions.reloads;
  }

  async list(): Promise<string[]> {
    const all = await this.inner.list();
    // read again in the background: a listing never waits on the CRM's database (the embedded
    // one is a single connection that an open transaction may hold); the service read them
    // before its first change, and a reload reads them before it has the mailboxes listed
    void this.directions.refresh();
    this.directions.noteListed(all);
    return all.filter((m) => this.directions.of(m) !== 'off');
  }
}
