import { parseCrmRef, type CrmChange, type CrmPort, type CrmRef } from '../crm-adapter/crm-port.js';
import type { Logger } from '../shared/logger.js';
import type { PositionStore } from '../state/position-store.js';
import { crmChangeMessage } from './crm-to-log.js';
import type { OutgoingMessage, Transport } from './transport/transport.js';

/** What the sync has mapped of a mailbox, as the catch-up compares it with the CRM. */
export interface MappedActivity {
  readonly crmId: CrmRef;
  readonly crmVersion: string;
  readonly itemId: string;
  readonly folder?: string;
}

export interface CrmCatchUpOptions {
  crm: Pick<CrmPort, 'associateByEmail' | 'recordsOf' | 'get' | 'person' | 'compareVersions'>;
  /** The feed's name: the caught-up changes carry `crm:<name>` as their source, as the feed's own do. */
  feedName: string;
  /** The mailbox's live mappings (appointments, tasks, the contacts it owns). */
  mapped: (mailbox: string) => Promise<readonly MappedActivity[]>;
  positions: PositionStore;
  transport: Pick<Transport, 'publish'>;
  topic: string;
  logger: Logger;
  now?: () => number;
}

const PENDING = 'crm-catch-up:';
const BATCH = 500;

/**
 * missed: what the handlers skipped while the mailbox was not written to; all: every record
 * (the policy now lets through what items were written without — the handler writes only those).
 */
export type CatchUpScope = 'missed' | 'all';
const ALL = 'all ';

/**
 * A mailbox switched back towards Exchange (from off or to-crm) gets the CRM changes the
 * handlers skipped while it was not: every record of its associate at a version the mapping
 * has not written, every record made meanwhile, and a delete for every mapped record gone —
 * appointments, tasks and the persons it owns (its contacts; a selection folder's copies follow
 * their selection, not the owner) — are
 * published to the CRM topic as changes (Debezium's incremental snapshot, for one owner), and
 * the ordinary handler applies them — versions already written change nothing. The request is
 * saved first and cleared once the log has the changes: a stop in between repeats it.
 */
export class CrmCatchUp {
  private queue: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: CrmCatchUpOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Catches up these mailboxes (one after the other); resolves when the log has their changes. */
  async request(mailboxes: readonly string[], scope: CatchUpScope = 'missed'): Promise<void> {
    const at = new Date(this.now()).toISOString();
    for (const m of mailboxes) {
      const key = `${PENDING}${m.toLowerCase()}`;
      // a pending 'all' covers what is missed too: it is not narrowed
      const wider = scope === 'all' || (await this.options.positions.get(key))?.startsWith(ALL);
      await this.options.positions.save(key, `${wider ? ALL : ''}${at}`);
    }
    return this.enqueue(mailboxes);
  }

  /** The catch-ups a stopped process left unfinished. */
  async resume(): Promise<void> {
    const pending = [...(await this.options.positions.withPrefix(PENDING)).keys()].map((k) => k.slice(PENDING.length));
    if (pending.length) this.options.logger.info({ event: 'catch-up.resumed', mailboxes: pending.length }, `${pending.length} mailbox(es) switched towards Exchange before the last stop are caught up`);
    return this.enqueue(pending);
  }

  /** Waits for the catch-ups requested so far. */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(mailboxes: readonly string[]): Promise<void> {
    const run = this.queue.then(async () => {
      for (const m of mailboxes) {
        try {
          const key = `${PENDING}${m.toLowerCase()}`;
          const requested = await this.options.positions.get(key);
          if (requested === undefined) continue; // done already (requested twice)
          const scope: CatchUpScope = requested.startsWith(ALL) ? 'all' : 'missed';
          const count = await this.catchUp(m.toLowerCase(), scope);
          // cleared only if not requested again meanwhile
          if ((await this.options.positions.get(key)) === requested) await this.options.positions.delete(key);
          this.options.logger.info({ event: 'catch-up.done', mailbox: m, changes: count, scope }, scope === 'all'
            ? `${m}: every CRM record (${count}) is on its way again, so what the policy now lets through towards Exchange is written`
            : `${m} is synced towards Exchange again: ${count} CRM change(s) it missed are on their way`);
        } catch (err) {
          // left pending: the next start (or the next switch) tries again
          this.options.logger.error({ err, event: 'catch-up.failed', mailbox: m }, `catching ${m} up with the CRM failed; it is tried again at the next start`);
        }
      }
    });
    this.queue = run;
    return run;
  }

  /** Publishes what the mailbox missed; how many changes. */
  private async catchUp(mailbox: string, scope: CatchUpScope): Promise<number> {
    const { crm, feedName } = this.options;
    const associate = await crm.associateByEmail(mailbox);
    if (!associate) return 0;
    const mapped = new Map<CrmRef, MappedActivity>();
    // a series' exception rows are part of their series (the CRM's listing leaves them out too)
    for (const m of await this.options.mapped(mailbox)) {
      const entity = parseCrmRef(m.crmId)?.entity;
      if (!m.itemId.includes('@') && (entity === 'appointment' || (entity === 'person' && m.folder === 'contacts'))) mapped.set(m.crmId, m);
    }
    const time = this.now();
    const position = `catch-up:${new Date(time).toISOString()}`;
    const base = { time, bySync: false, owner: associate.ref, ownerEmail: mailbox, position } as const;
    const messages: OutgoingMessage[] = [];
    for (const record of await crm.recordsOf(associate.ref)) {
      const known = mapped.get(record.ref);
      mapped.delete(record.ref);
      // the sync wrote this version itself (from the mailbox: its mapping may be a moment behind),
      // or the mailbox has had it
      // ('all' sends the versions the mailbox has too, but never a record the sync made from an
      // item whose mapping is not saved yet: that would make the item twice)
      const had = !!known && known.crmVersion !== '' && crm.compareVersions(known.crmVersion, record.version) >= 0;
      if (record.writtenBySync ? !known || scope === 'missed' : had && scope === 'missed') continue;
      const op = known ? 'u' : 'c';
      if (record.kind === 'contact') {
        const person = await crm.person(record.ref);
        if (person) messages.push(crmChangeMessage(feedName, { ...base, ref: record.ref, kind: 'contact', op, person } satisfies CrmChange));
        continue;
      }
      const activity = await crm.get(record.ref);
      if (!activity) continue;
      messages.push(crmChangeMessage(feedName, { ...base, ref: record.ref, kind: activity.kind, op, activity } satisfies CrmChange));
    }
    const kindOf = (m: MappedActivity): CrmChange['kind'] => (m.folder === 'tasks' ? 'task' : m.folder === 'contacts' ? 'contact' : 'appointment');
    for (const gone of mapped.values()) messages.push(crmChangeMessage(feedName, { ...base, ref: gone.crmId, kind: kindOf(gone), op: 'd' } satisfies CrmChange));
    for (let i = 0; i < messages.length; i += BATCH) await this.options.transport.publish(this.options.topic, messages.slice(i, i + BATCH));
    return messages.length;
  }
}
