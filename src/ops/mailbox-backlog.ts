/**
 * Per mailbox: changes this instance published to the log and not yet handled by the
 * to-crm group — the "its lag" of the status page's mailbox search. (With several
 * instances another one may handle them; then the figure is this instance's view.)
 */
export class MailboxBacklog {
  private readonly pending = new Map<string, { published: number; handled: number; lastPublishedAt?: number; lastHandledAt?: number }>();

  published(mailbox: string, count: number): void {
    const e = this.entry(mailbox);
    e.published += count;
    e.lastPublishedAt = Date.now();
  }

  handled(mailbox: string): void {
    const e = this.entry(mailbox);
    e.handled++;
    e.lastHandledAt = Date.now();
  }

  of(mailbox: string): { pending: number; lastPublishedAt?: number; lastHandledAt?: number } {
    const e = this.pending.get(mailbox);
    if (!e) return { pending: 0 };
    return { pending: Math.max(0, e.published - e.handled), lastPublishedAt: e.lastPublishedAt, lastHandledAt: e.lastHandledAt };
  }

  private entry(mailbox: string): { published: number; handled: number; lastPublishedAt?: number; lastHandledAt?: number } {
    let e = this.pending.get(mailbox);
    if (!e) this.pending.set(mailbox, (e = { published: 0, handled: 0 }));
    return e;
  }
}
