import { Subscription, timer } from 'rxjs';
import type { FolderKind } from '../ews/exchange-port.js';
import { exchangeErrorCategory } from '../shared/errors.js';
import { Limiter } from '../shared/limiter.js';
import { EwsSourceBase, type EwsSourceOptions } from './ews-source-base.js';

export interface PullSourceOptions extends EwsSourceOptions {
  intervalMs: number;
  /** GetEvents requests in flight at once, across all mailboxes. */
  pullConcurrency: number;
  subscriptionTimeoutMinutes: number;
  random?: () => number;
}

interface PullMember {
  subscriptionId: string;
  watermark: string;
  folderIds: Record<string, FolderKind>;
  polling: boolean;
  ticker: Subscription;
}

/**
 * EwsPull: a pull subscription per mailbox, GetEvents every `interval` — each mailbox at
 * its own random offset so thousands do not poll in lockstep — at most `concurrency` in
 * flight, and at once again while the server says MoreEvents.
 */
export class PullSource extends EwsSourceBase {
  readonly mode = 'EwsPull' as const;
  private readonly members = new Map<string, PullMember>();
  private readonly polls: Limiter;
  private readonly pullOptions: PullSourceOptions;

  constructor(options: PullSourceOptions) {
    super(options);
    this.pullOptions = options;
    this.polls = new Limiter(options.pullConcurrency);
  }

  protected connectionCount(): number {
    return 0;
  }

  protected async subscribeMailbox(mailbox: string): Promise<void> {
    const folderIds = await this.folderIds(mailbox);
    const { subscriptionId, watermark } = await this.limiter.run(() =>
      this.exchange.subscribePull(mailbox, this.options.folders, this.pullOptions.subscriptionTimeoutMinutes),
    );
    this.members.get(mailbox)?.ticker.unsubscribe();
    const { intervalMs, random = Math.random } = this.pullOptions;
    const member: PullMember = { subscriptionId, watermark, folderIds, polling: false, ticker: new Subscription() };
    // A random first offset spreads mailboxes over the interval; ±10% jitter keeps them spread.
    member.ticker = timer(Math.floor(random() * intervalMs), Math.round(intervalMs * (0.9 + random() * 0.2))).subscribe(() => void this.poll(mailbox, member));
    this.members.set(mailbox, member);
  }

  protected async unsubscribeMailbox(mailbox: string): Promise<void> {
    const member = this.members.get(mailbox);
    if (!member) return;
    member.ticker.unsubscribe();
    this.members.delete(mailbox);
    await this.exchange.unsubscribe(mailbox, member.subscriptionId);
  }

  protected override dropSubscription(mailbox: string): void {
    this.members.get(mailbox)?.ticker.unsubscribe();
    this.members.delete(mailbox);
  }

  protected async stopMode(): Promise<void> {
    const work = [...this.members.entries()].map(([mailbox, m]) => {
      m.ticker.unsubscribe();
      return this.limiter.run(() => this.exchange.unsubscribe(mailbox, m.subscriptionId)).catch(() => undefined);
    });
    await Promise.race([Promise.all(work), new Promise((r) => setTimeout(r, 5_000))]);
    this.members.clear();
  }

  private async poll(mailbox: string, member: PullMember): Promise<void> {
    if (member.polling || this.stopping || this.members.get(mailbox) !== member || this.paused.has(mailbox)) return;
    member.polling = true;
    try {
      for (;;) {
        const result = await this.polls.run(() => this.exchange.getEvents(mailbox, member.subscriptionId, member.watermark));
        if (this.members.get(mailbox) !== member) return;
        member.watermark = result.watermark;
        for (const e of result.events) {
          this.mailboxes.events?.inc({ type: e.type });
          if (!e.itemId) continue;
          for (const parent of [e.parentFolderId, e.oldParentFolderId]) {
            const folder = parent ? member.folderIds[parent] : undefined;
            if (folder) this.notify(mailbox, folder);
          }
        }
        if (!result.moreEvents || this.stopping) break;
      }
    } catch (err) {
      // A busy or unreachable server: the next tick tries again (the shared gate spaces it).
      if (this.members.get(mailbox) === member && exchangeErrorCategory(err) !== 'transient') {
        member.ticker.unsubscribe();
        this.onFailure(mailbox, err, 'GetEvents');
      }
    } finally {
      member.polling = false;
    }
  }
}
