import { randomUUID } from 'node:crypto';
import type { Mailbox, MailboxEvent, MailboxStore } from './mailbox-store.js';

export type EventTypeName = MailboxEvent['type'] | 'FreeBusyChangedEvent' | 'StatusEvent';

interface SubscriptionBase {
  readonly id: string;
  readonly mailbox: Mailbox;
  /** The account that created it: only that account may use it. */
  readonly account: string;
  /** The throttling budget it counts against (EWSMaxSubscriptions). */
  readonly budget: string;
  /** Folder keys, or 'all' (SubscribeToAllFolders). */
  readonly folders: ReadonlySet<string> | 'all';
  readonly eventTypes: ReadonlySet<string>;
  /** Which simulated backend server holds it (affinity). */
  readonly backend: number;
  readonly createdAt: number;
}

export interface PullSubscription extends SubscriptionBase {
  readonly kind: 'pull';
  readonly timeoutMs: number;
  lastPolledAt: number;
}

export interface StreamingSubscription extends SubscriptionBase {
  readonly kind: 'streaming';
  pending: MailboxEvent[];
  /** Set when the queue overflowed: the next delivery is ErrorMissedNotificationEvents. */
  missed: boolean;
  connection: StreamingAttachment | undefined;
  lastConnectionEndedAt: number;
}

export type Subscription = PullSubscription | StreamingSubscription;

/** What a streaming connection exposes to the registry. */
export interface StreamingAttachment {
  notify(subscription: StreamingSubscription): void;
  detach(subscription: StreamingSubscription): void;
}

/** Exchange drops a streaming subscription about 30 minutes after its last connection ended. */
const STREAMING_IDLE_MINUTES = 30;
/** Queued events per streaming subscription before it is declared to have missed events. */
const MAX_PENDING = 10_000;

export interface SubscriptionRegistryOptions {
  now: () => number;
  /** Length of an EWS "minute" (tests compress time). */
  minuteMs: number;
}

/** Every live subscription; events from the store fan out to the streaming ones. */
export class SubscriptionRegistry {
  private readonly byId = new Map<string, Subscription>();
  private readonly byMailbox = new Map<number, Set<Subscription>>();
  private readonly byBudget = new Map<string, Set<Subscription>>();
  /** Ids that expired (answered ErrorExpiredSubscription once, like Exchange) until forgotten. */
  private readonly expired = new Map<string, number>();
  private readonly now: () => number;
  readonly minuteMs: number;

  constructor(store: MailboxStore, options: SubscriptionRegistryOptions) {
    this.now = options.now;
    this.minuteMs = options.minuteMs;
    store.onEvent((mailbox, event) => this.deliver(mailbox, event));
  }

  get size(): number {
    return this.byId.size;
  }

  counts(): { pull: number; streaming: number } {
    let pull = 0;
    for (const s of this.byId.values()) if (s.kind === 'pull') pull++;
    return { pull, streaming: this.byId.size - pull };
  }

  /** Subscriptions charged to a budget (EWSMaxSubscriptions). */
  forBudget(budget: string): number {
    return this.byBudget.get(budget)?.size ?? 0;
  }

  createPull(base: Omit<PullSubscription, 'id' | 'kind' | 'createdAt' | 'lastPolledAt'>): PullSubscription {
    const now = this.now();
    return this.add({ ...base, id: randomUUID(), kind: 'pull', createdAt: now, lastPolledAt: now });
  }

  createStreaming(base: Omit<StreamingSubscription, 'id' | 'kind' | 'createdAt' | 'pending' | 'missed' | 'connection' | 'lastConnectionEndedAt'>): StreamingSubscription {
    const now = this.now();
    // Exchange's streaming ids are long base64 strings; clients must not assume GUIDs.
    const id = Buffer.from(`${randomUUID()}:${base.mailbox.index}`).toString('base64');
    return this.add({ ...base, id, kind: 'streaming', createdAt: now, pending: [], missed: false, connection: undefined, lastConnectionEndedAt: now });
  }

  /** The subscription, or 'expired' (once), or undefined (not found). */
  get(id: string): Subscription | 'expired' | undefined {
    this.sweep();
    const sub = this.byId.get(id);
    if (sub) return sub;
    if (this.expired.has(id)) {
      this.expired.delete(id);
      return 'expired';
    }
    return undefined;
  }

  remove(id: string): boolean {
    const sub = this.byId.get(id);
    if (!sub) return false;
    this.byId.delete(id);
    this.byMailbox.get(sub.mailbox.index)?.delete(sub);
    this.byBudget.get(sub.budget)?.delete(sub);
    if (sub.kind === 'streaming') sub.connection?.detach(sub);
    return true;
  }

  /** A mailbox moved away: its subscriptions are gone. Returns the streaming connections that carried one. */
  removeMailbox(mailbox: Mailbox): Set<StreamingAttachment> {
    const carriers = new Set<StreamingAttachment>();
    for (const sub of [...(this.byMailbox.get(mailbox.index) ?? [])]) {
      if (sub.kind === 'streaming' && sub.connection) carriers.add(sub.connection);
      this.remove(sub.id);
    }
    return carriers;
  }

  /** A server restart: every subscription is gone (their ids are simply unknown afterwards). */
  clear(): void {
    for (const id of [...this.byId.keys()]) this.remove(id);
    this.expired.clear();
  }

  private lastSweep = 0;

  /**
   * Drops pull subscriptions not polled within their timeout and idle streaming ones. Runs
   * at most a few times per EWS minute: scanning every subscription per request would make
   * 10,000 subscribes quadratic.
   */
  sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < Math.min(1_000, this.minuteMs / 4)) return;
    this.lastSweep = now;
    for (const sub of this.byId.values()) {
      const deadline =
        sub.kind === 'pull'
          ? sub.lastPolledAt + sub.timeoutMs
          : sub.connection
            ? Number.POSITIVE_INFINITY
            : sub.lastConnectionEndedAt + STREAMING_IDLE_MINUTES * this.minuteMs;
      if (now > deadline) {
        this.remove(sub.id);
        this.expired.set(sub.id, now);
      }
    }
    if (this.expired.size > 100_000) this.expired.clear();
  }

  matches(sub: Subscription, event: MailboxEvent): boolean {
    if (!sub.eventTypes.has(event.type)) return false;
    if (sub.folders === 'all') return true;
    return sub.folders.has(event.folder) || (event.oldFolder !== undefined && sub.folders.has(event.oldFolder));
  }

  private add<S extends Subscription>(sub: S): S {
    this.byId.set(sub.id, sub);
    let set = this.byMailbox.get(sub.mailbox.index);
    if (!set) this.byMailbox.set(sub.mailbox.index, (set = new Set()));
    set.add(sub);
    let charged = this.byBudget.get(sub.budget);
    if (!charged) this.byBudget.set(sub.budget, (charged = new Set()));
    charged.add(sub);
    return sub;
  }

  private deliver(mailbox: Mailbox, event: MailboxEvent): void {
    const subs = this.byMailbox.get(mailbox.index);
    if (!subs) return;
    for (const sub of subs) {
      if (sub.kind !== 'streaming' || !this.matches(sub, event)) continue;
      if (sub.pending.length >= MAX_PENDING) {
        sub.pending = [];
        sub.missed = true;
      } else {
        sub.pending.push(event);
      }
      sub.connection?.notify(sub);
    }
  }
}
