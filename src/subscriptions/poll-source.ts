import { timer, type Subscription } from 'rxjs';
import type { AdviseMode } from '../config/index.js';
import { SourceBase, type SourceOptions } from './source-base.js';

export interface PollSourceOptions extends SourceOptions {
  /** How often each mailbox's folders are read from their positions. */
  intervalMs: number;
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

  constructor(readonly mode: AdviseMode, private readonly pollOptions: PollSourceOptions) {
    super(pollOptions);
  }

  protected connectionCount(): number {
    return 0;
  }

  protected async subscribeMailbox(mailbox: string): Promise<void> {
    this.tickers.get(mailbox)?.unsubscribe();
    const { intervalMs, random = Math.random } = this.pollOptions;
    // the first read is the attach's own sync; polls begin an interval (at a random offset) later
    const ticker = timer(intervalMs + Math.floor(random() * intervalMs), Math.round(intervalMs * (0.9 + random() * 0.2))).subscribe(() => {
      if (this.paused.has(mailbox)) return;
      for (const folder of this.options.folders) this.notify(mailbox, folder);
    });
    this.tickers.set(mailbox, ticker);
  }

  protected async unsubscribeMailbox(mailbox: string): Promise<void> {
    await this.unsubscribeMailboxTicker(mailbox);
  }

  /** Stops the mailbox's polls. */
  protected async unsubscribeMailboxTicker(mailbox: string): Promise<void> {
    this.tickers.get(mailbox)?.unsubscribe();
    this.tickers.delete(mailbox);
  }

  protected override dropSubscription(mailbox: string): void {
    this.tickers.get(mailbox)?.unsubscribe();
    this.tickers.delete(mailbox);
  }

  /** A mailbox whose reads fail stops polling; its reattach (after the back-off) starts again. */
  protected override onFailure(mailbox: string, err: unknown, during: string): void {
    this.tickers.get(mailbox)?.unsubscribe();
    this.tickers.delete(mailbox);
    super.onFailure(mailbox, err, during);
  }

  protected async stopMode(): Promise<void> {
    for (const t of this.tickers.values()) t.unsubscribe();
    this.tickers.clear();
  }
}
