import type { MailboxStore } from '../exchange/index.js';
import { ItemMappingStore, SelectionFolderStore } from '../handlers/index.js';
import { exchangeErrorCategory, isRetriable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { SqlPositionStore, type Database } from '../state/index.js';
import { recordedMailboxProtocol, type MailboxPlacement } from '../subscriptions/index.js';
import { lockProtocol, migrateMailboxToGraph, type MailboxMigration } from './exchange-migration.js';

export interface LiveMoverOptions {
  readonly db: Database;
  readonly schema: string;
  readonly placement: MailboxPlacement;
  readonly graphStore: MailboxStore;
  readonly translateEwsIds: (mailbox: string, ewsIds: readonly string[]) => Promise<Map<string, string>>;
  /** Whether the on-premises source still has the mailbox (a move waits for it to let go). */
  readonly heldOnPremises: (mailbox: string) => boolean;
  readonly logger: Logger;
  /** Tests shorten the waits. */
  readonly probeEveryMs?: number;
  readonly probes?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ALL_FOLDERS = ['calendar', 'tasks', 'contacts'] as const;

/**
 * A hybrid organisation's mailbox moved while the sync runs: the mailbox leaves its EWS source
 * (its writes wait meanwhile), the move takes every mapping row of the mailbox — waiting for
 * the handlers that hold one — and carries the state to Graph in one transaction, then the
 * Graph source takes the mailbox over with a full read that meets every item at its mapping.
 * A change read over EWS and still in the log is skipped by the handlers (its id is EWS's).
 */
export class LiveMover {
  private readonly moving = new Map<string, Promise<MailboxMigration | undefined>>();
  private readonly following = new Set<string>();
  /** Mailboxes looked for in vain, and when: refused again soon after, they are not waited for. */
  private readonly notFound = new Map<string, number>();

  constructor(private readonly o: LiveMoverOptions) {}

  /** Moves one mailbox's state to Graph now (a dry run writes nothing); undefined when it was moved already. */
  move(mailbox: string, dryRun = false): Promise<MailboxMigration | undefined> {
    if (dryRun) return this.dry(mailbox);
    let running = this.moving.get(mailbox);
    if (!running) {
      running = this.moveNow(mailbox).finally(() => this.moving.delete(mailbox));
      this.moving.set(mailbox, running);
    }
    return running;
  }

  /**
   * The on-premises server refused a mailbox: if Exchange Online serves it now (Exchange moved
   * it; during the move neither side does, so it is asked again a few times), its state follows.
   * Answers whether the mailbox is being looked for (its writes wait meanwhile); one looked for
   * in vain within the last hour is not, so its writes fail for good (the dead-letter topic).
   */
  follow(mailbox: string): boolean {
    if (this.following.has(mailbox)) return true;
    if (this.o.placement.protocolOf(mailbox) !== 'ews') return false;
    const gaveUp = this.notFound.get(mailbox);
    if (gaveUp !== undefined && Date.now() - gaveUp < 3_600_000) return false;
    this.following.add(mailbox);
    void (async () => {
      try {
        for (let probe = 0; probe < (this.o.probes ?? 20); probe++) {
          if (probe) await sleep(this.o.probeEveryMs ?? 30_000);
          if (this.o.placement.protocolOf(mailbox) !== 'ews') return;
          try {
            await this.o.graphStore.findStamped(mailbox, 'calendar', 'exchange-crm-sync:probe');
          } catch (err) {
            // not (yet) in Exchange Online, or Graph busy or out of reach for now: asked again
            if (exchangeErrorCategory(err) === 'mailbox-unavailable' || isRetriable(err)) continue;
            throw err;
          }
          this.o.logger.warn({ event: 'placement.following', mailbox }, `${mailbox}: the on-premises server refuses it and Exchange Online serves it: Exchange has moved it; its sync state follows to Microsoft Graph`);
          const moved = await this.move(mailbox);
          if (moved) this.o.logger.warn({ event: 'placement.followed', mailbox, byId: moved.byId, byStamp: moved.byStamp, unmatched: moved.unmatched }, `${mailbox} is synced through Microsoft Graph now: ${moved.byId} items matched by id, ${moved.byStamp} by stamp, ${moved.unmatched} not found`);
          return;
        }
        this.notFound.set(mailbox, Date.now());
        this.o.logger.error({ event: 'placement.not-found', mailbox }, `${mailbox}: the on-premises server refuses it and Exchange Online does not serve it either; its changes towards Exchange go to the dead-letter topic`);
      } catch (err) {
        this.notFound.set(mailbox, Date.now());
        this.o.logger.error({ err, event: 'placement.follow-failed', mailbox }, `${mailbox}: following it to Exchange Online failed (${(err as Error).message}); \`exchange-crm-sync migrate --to graph ${mailbox}\` tries again`);
      } finally {
        this.following.delete(mailbox);
      }
    })();
    return true;
  }

  private async dry(mailbox: string): Promise<MailboxMigration> {
    const { db, schema } = this.o;
    return db.transaction(async (tx) => migrateMailboxToGraph(mailbox, {
      mappings: new ItemMappingStore(tx, schema), selections: new SelectionFolderStore(tx, schema), positions: await SqlPositionStore.open(tx, schema),
      store: this.o.graphStore, translateEwsIds: this.o.translateEwsIds, folders: ALL_FOLDERS, dryRun: true, logger: this.o.logger,
    }));
  }

  private async moveNow(mailbox: string): Promise<MailboxMigration | undefined> {
    const { db, schema, placement } = this.o;
    placement.beginMove(mailbox);
    try {
      for (let waited = 0; this.o.heldOnPremises(mailbox); waited += 100) {
        if (waited > 60_000) throw new Error(`${mailbox}: its EWS source did not let it go within a minute`);
        await sleep(100);
      }
      for (let attempt = 1; ; attempt++) {
        const result = await db.transaction(async (tx): Promise<MailboxMigration | 'busy' | 'moved'> => {
          await lockProtocol(db, tx, schema);
          const positions = await SqlPositionStore.open(tx, schema);
          if ((await recordedMailboxProtocol(positions, mailbox)) === 'graph') return 'moved';
          const mappings = new ItemMappingStore(tx, schema);
          if (!(await mappings.holdMailbox(mailbox))) return 'busy';
          return migrateMailboxToGraph(mailbox, {
            mappings, selections: new SelectionFolderStore(tx, schema), positions, store: this.o.graphStore, translateEwsIds: this.o.translateEwsIds,
            folders: ALL_FOLDERS, dryRun: false, logger: this.o.logger,
          });
        });
        if (result === 'busy') {
          if (attempt >= 120) throw new Error(`${mailbox}: the handlers kept its items busy for a minute`);
          await sleep(500);
          continue;
        }
        placement.moved(mailbox, 'graph');
        return result === 'moved' ? undefined : result;
      }
    } catch (err) {
      placement.abortMove(mailbox);
      throw err;
    }
  }
}
