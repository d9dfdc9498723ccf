import { Subject } from 'rxjs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MailboxState, MailboxStatus } from './mailbox-signal.js';

const STATES: readonly MailboxState[] = ['subscribing', 'syncing', 'active', 'backing-off', 'failed', 'paused'];

/** Every mailbox's lifecycle state, for the status page, /readyz and metrics. */
export class MailboxRegistry {
  private readonly statuses = new Map<string, MailboxStatus>();
  readonly changes = new Subject<MailboxStatus>();
  readonly events: Counter<'type'> | undefined;
  readonly initialSyncs: Gauge<'phase'> | undefined;

  constructor(registry?: Registry, private readonly now: () => number = Date.now) {
    if (registry) {
      const gauge: Gauge<'state'> = new Gauge({
        name: 'ecs_mailboxes', help: 'Mailboxes by lifecycle state', labelNames: ['state'], registers: [registry],
        collect: () => {
          const counts = this.countByState();
          for (const s of STATES) gauge.set({ state: s }, counts[s]);
        },
      });
      this.events = new Counter({ name: 'ecs_ews_notification_events_total', help: 'Notification events received, by type', labelNames: ['type'], registers: [registry] });
      const initial: Gauge<'phase'> = new Gauge({
        name: 'ecs_initial_sync_mailboxes', help: 'Mailboxes whose initial sync is done / all mailboxes', labelNames: ['phase'], registers: [registry],
        collect: () => {
          let done = 0;
          for (const s of this.statuses.values()) if (s.initialSyncDone) done++;
          initial.set({ phase: 'done' }, done);
          initial.set({ phase: 'total' }, this.statuses.size);
        },
      });
      this.initialSyncs = initial;
    }
  }

  get size(): number {
    return this.statuses.size;
  }

  get(mailbox: string): MailboxStatus | undefined {
    return this.statuses.get(mailbox);
  }

  all(): MailboxStatus[] {
    return [...this.statuses.values()];
  }

  set(mailbox: string, state: MailboxState, reason?: string): void {
    const before = this.statuses.get(mailbox);
    if (before && before.state === state && before.reason === reason) return;
    const status: MailboxStatus = { initialSyncDone: false, ...before, mailbox, state, reason, since: this.now() };
    this.statuses.set(mailbox, status);
    this.changes.next(status);
  }

  touch(mailbox: string, patch: Partial<Pick<MailboxStatus, 'lastEventAt' | 'lastSyncAt' | 'initialSyncDone'>>): void {
    const before = this.statuses.get(mailbox);
    if (before) this.statuses.set(mailbox, { ...before, ...patch });
  }

  remove(mailbox: string): void {
    this.statuses.delete(mailbox);
  }

  countByState(): Record<MailboxState, number> {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<MailboxState, number>;
    for (const s of this.statuses.values()) counts[s.state]++;
    return counts;
  }
}
