import { timer, type Subscription } from 'rxjs';
import type { AdviseMode } from '../config/index.js';
import type { FolderKind } from '../exchange/index.js';
import { SourceBase, type SourceOptions } from './source-base.js';

export interface PollSourceOptions extends SourceOptions {
  /** How often each mailbox's folders are read from their positions. */
  intervalMs: number;
  /** Folders read more often than that, at their own interval (GraphNotify: those no notification tells of). */
  polled?: { readonly folders: readonly FolderKind[]; readonly intervalMs: number };
  random?: () => number;
}

/**
 * A source with no notifications: every `interval` each mailbox's folders are read from
 * their positions (GraphDelta: the calendar view's delta query). Each mailbox polls at its
 * own random offset, so thousands do not ask in lockstep; the change reader's limiter and
 * the client's own limits pace the requests.
 */
export class PollSource extends SourceBase {
  private readonly tickers = new Map<string, Subscription>();
  private readonly polledTickers = new Map<string, Subscription>();

  constructor(readonly mode: AdviseMode, private readonly pollOptions: PollSourceOptions) {
    super(pollOptions);
  }

  protected connectionCount(): number {
    return 0;
  }

  protected async subscribeMailbox(mailbox: string): Promise<void> {
    this.tickers.get(mailbox)?.unsubscribe();
    const { intervalMs, random = Math.random } = this.pollOptions;
    // the first read is the attach's own sync; then a poll at a random offset within an interval
    // (thousands do not ask in lockstep, and a change made after the attach waits one interval at
    // most), then one an interval
    const ticker = timer(this.firstPollMs(intervalMs, random), Math.round(intervalMs * (0.9 + random() * 0.2))).subscribe(() => {
      if (this.paused.has(mailbox)) return;
      for (const folder of this.options.folders) this.notify(mailbox, folder);
    });
    this.tickers.set(mailbox, ticker);
    this.polledTickers.get(mailbox)?.unsubscribe();
    const polled = this.pollOptions.polled;
    const folders = polled?.folders.filter((f) => this.options.folders.includes(f)) ?? [];
    if (polled && folders.length) {
      this.polledTickers.set(mailbox, timer(Math.floor((0.1 + 0.9 * random()) * polled.intervalMs), Math.round(polled.intervalMs * (0.9 + random() * 0.2))).subscribe(() => {
        if (this.paused.has(mailbox)) return;
        for (const folder of folders) this.notify(mailbox, folder);
      }));
    }
  }

  /** When a mailbox's first poll comes after its attach: within an interval (a tenth of one at least). */
  protected firstPollMs(intervalMs: number, random: () => number): number {
    return Math.floor((0.1 + 0.9 * random()) * intervalMs);
  }

  protected async unsubscribeMailbox(mailbox: string): Promise<void> {
    await this.unsubscribeMailboxTicker(mailbox);
  }

  /** Stops the mailbox's polls. */
  protected async unsubscribeMailboxTicker(mailbox: string): Promise<void> {
    this.stopTickers(mailbox);
  }

  protected override dropSubscription(mailbox: string): void {
    this.stopTickers(mailbox);
  }

  private stopTickers(mailbox: string): void {
    for (const tickers of [this.tickers, this.polledTickers]) {
      tickers.get(mailbox)?.unsubscribe();
      tickers.delete(mailbox);
    }
  }

  /** A mailbox whose reads fail stops polling; its reattach (after the back-off) starts again. */
  protected override onFailure(mailbox: string, err: unknown, during: string): void {
    this.stopTickers(mailbox);
    super.onFailure(mailbox, err, during);
  }

  protected async stopMode(): Promise<void> {
    for (const tickers of [this.tickers, this.polledTickers]) {
      for (const t of tickers.values()) t.unsubscribe();
      tickers.clear();
    }
  }
}
