import { randomUUID } from 'node:crypto';
import { formatUtc } from '../shared/time-zones.js';
import { changeKeyOf, itemIdOf } from './ids.js';
import type { ItemKind } from './item-properties.js';
import type { Mailbox, MailboxStore, StoredItem } from './mailbox-store.js';
import { prng } from './prng.js';

/** One change the generator made, as a test or benchmark compares it with what the sync saw. */
export interface ActivityRecord {
  readonly n: number;
  readonly time: number;
  readonly mailbox: string;
  readonly op: 'c' | 'u' | 'd';
  readonly kind: ItemKind;
  /** The item's id when the change was made (for a delete: the id it had). */
  readonly itemId: string;
  /** The ChangeKey after the change (for a delete: the last one). */
  readonly changeKey: string;
  readonly folder: string;
}

export interface ActivityCounts {
  created: number;
  updated: number;
  deleted: number;
  total: number;
}

const TICK_MS = 20;
const SUBJECTS = ['Quarterly review', 'Customer call', 'Project sync', 'Lunch with partner', 'Budget planning', 'Site visit', 'Demo', 'Contract signing'];
const LOCATIONS = ['Room 101', 'Teams', 'Head office', 'Customer site', 'Café', ''];
const HOUR = 3_600_000;

/**
 * Users' own edits, simulated: creates, updates and deletes appointments and tasks at a
 * fixed rate across the mailboxes, deterministic for a seed, and journals every change.
 */
export class ActivityGenerator {
  private readonly store: MailboxStore;
  private readonly random: () => number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private owed = 0;
  private lastTick = 0;
  rate = 0;
  readonly counts: ActivityCounts = { created: 0, updated: 0, deleted: 0, total: 0 };
  readonly journal: ActivityRecord[] = [];
  private readonly journalLimit: number;
  /** Restricts activity to these mailboxes (default: all). */
  mailboxFilter: ((m: Mailbox) => boolean) | undefined;
  /** Items a person made by hand (the demo's forms): the simulated users never edit or delete them. */
  private readonly spared = new WeakSet<StoredItem>();

  constructor(store: MailboxStore, options: { seed: number; now?: () => number; journalLimit?: number }) {
    this.store = store;
    this.random = prng(options.seed);
    this.now = options.now ?? Date.now;
    this.journalLimit = options.journalLimit ?? 2_000_000;
  }

  /** Fills every mailbox with `perMailbox` items (70% appointments, 30% tasks) around today. */
  seedItems(perMailbox: number): void {
    for (const mailbox of this.store.all()) {
      for (let i = 0; i < perMailbox; i++) this.create(mailbox, this.random() < 0.7 ? 'CalendarItem' : 'Task', false);
    }
  }

  /** Changes per second; 0 stops. */
  setRate(rate: number): void {
    this.rate = Math.max(0, rate);
    if (this.rate > 0 && !this.timer) {
      this.lastTick = Date.now();
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    } else if (this.rate === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.owed = 0;
    }
  }

  stop(): void {
    this.setRate(0);
  }

  /**
   * Leaves an item alone from now on: someone trying the demo who makes "My meeting" in
   * Outlook expects to find it in the CRM as made, not renamed "My meeting #2" or deleted by
   * the simulated users.
   */
  spare(item: StoredItem): void {
    this.spared.add(item);
  }

  /** Makes exactly `count` changes now (tests use this instead of a rate). */
  burst(count: number): void {
    for (let i = 0; i < count; i++) this.change();
  }

  private tick(): void {
    const now = Date.now();
    this.owed += (this.rate * (now - this.lastTick)) / 1000;
    this.lastTick = now;
    while (this.owed >= 1) {
      this.owed -= 1;
      this.change();
    }
  }

  private pickMailbox(): Mailbox | undefined {
    const all = this.mailboxFilter ? this.store.all().filter(this.mailboxFilter) : this.store.all();
    return all.length ? all[Math.floor(this.random() * all.length)] : undefined;
  }

  private change(): void {
    const mailbox = this.pickMailbox();
    if (!mailbox) return;
    const kind: ItemKind = this.random() < 0.7 ? 'CalendarItem' : 'Task';
    const folder = kind === 'CalendarItem' ? 'calendar' : 'tasks';
    const existing = this.store.itemsIn(mailbox, folder).filter((i) => !this.spared.has(i));
    const roll = this.random();
    if (existing.length === 0 || roll < 0.4) {
      this.create(mailbox, kind, true);
      return;
    }
    const item = existing[Math.floor(this.random() * existing.length)];
    if (roll < 0.8) this.update(mailbox, item);
    else this.remove(mailbox, item);
  }

  private create(mailbox: Mailbox, kind: ItemKind, journal: boolean): void {
    const dayOffset = Math.floor(this.random() * 60) - 20;
    const base = Math.floor(this.now() / HOUR) * HOUR;
    const start = base + dayOffset * 24 * HOUR + Math.floor(this.random() * 9) * HOUR;
    const subject = SUBJECTS[Math.floor(this.random() * SUBJECTS.length)];
    const item =
      kind === 'CalendarItem'
        ? this.store.createItem(mailbox, 'calendar', kind, {
            Subject: subject, Start: formatUtc(start), End: formatUtc(start + (1 + Math.floor(this.random() * 3)) * 30 * 60_000),
            Location: LOCATIONS[Math.floor(this.random() * LOCATIONS.length)], LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false',
            UID: `040000008200E00074C5B7101A82E008${randomUUID().replace(/-/g, '').toUpperCase()}`,
          }, new Map(), !journal)
        : this.store.createItem(mailbox, 'tasks', kind, { Subject: subject, DueDate: formatUtc(start), Status: 'NotStarted', PercentComplete: '0' }, new Map(), !journal);
    if (journal) this.record(mailbox, 'c', item);
  }

  private update(mailbox: Mailbox, item: StoredItem): void {
    const version = Number(/#(\d+)$/.exec(String(item.props.Subject ?? ''))?.[1] ?? 0) + 1;
    item.props = { ...item.props, Subject: `${String(item.props.Subject ?? '').replace(/ #\d+$/, '')} #${version}` };
    if (item.kind === 'CalendarItem' && this.random() < 0.5) item.props.Location = LOCATIONS[Math.floor(this.random() * LOCATIONS.length)];
    if (item.kind === 'Task' && this.random() < 0.3) item.props.Status = 'Completed';
    this.store.touch(mailbox, item);
    this.record(mailbox, 'u', item);
  }

  private remove(mailbox: Mailbox, item: StoredItem): void {
    const id = itemIdOf(mailbox.index, item.seq);
    const folder = item.folder;
    const record = { itemId: id, changeKey: changeKeyOf(item.version), kind: item.kind };
    if (this.random() < 0.5) this.store.deleteItem(mailbox, item);
    else this.store.moveItem(mailbox, item, 'deleteditems');
    this.push({ mailbox: mailbox.address, op: 'd', folder, ...record });
    this.counts.deleted++;
    this.counts.total++;
  }

  private record(mailbox: Mailbox, op: 'c' | 'u', item: StoredItem): void {
    this.push({ mailbox: mailbox.address, op, kind: item.kind, itemId: itemIdOf(mailbox.index, item.seq), changeKey: changeKeyOf(item.version), folder: item.folder });
    if (op === 'c') this.counts.created++;
    else this.counts.updated++;
    this.counts.total++;
  }

  private push(r: Omit<ActivityRecord, 'n' | 'time'>): void {
    if (this.journal.length >= this.journalLimit) this.journal.shift();
    this.journal.push({ ...r, n: this.counts.total + 1, time: this.now() });
  }
}
