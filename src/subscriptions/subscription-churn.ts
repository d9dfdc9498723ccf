import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';

export interface SubscriptionChurnOptions {
  /** A subscription that lives this long after it was made counts as healthy again. */
  readonly stableMs: number;
  /** Delays for a mailbox whose subscription is lost again and again (within stableMs). */
  readonly policy: BackoffPolicy;
  /** Delays between probes while Exchange keeps losing everyone's subscriptions. */
  readonly probePolicy: BackoffPolicy;
  /** This many distinct mailboxes lost again within stableMs (or all of them, if fewer) make an outage. */
  readonly outageMailboxes: number;
  readonly now: () => number;
  /** Subscribe this mailbox again after delayMs. */
  readonly reattach: (mailbox: string, delayMs: number) => void;
  readonly onOutage: (change: OutageChange) => void;
}

export type OutageChange =
  | { readonly open: true; readonly probe: string; readonly mailboxes: number }
  | { readonly open: false; readonly probe: string; readonly waiting: number; readonly probes: number; readonly durationMs: number };

export interface OutageState {
  readonly since: number;
  readonly probe: string;
  readonly probes: number;
  readonly waiting: number;
}

interface Outage {
  since: number;
  probe: string;
  probes: number;
  readonly waiting: Set<string>;
  timer?: NodeJS.Timeout;
}

/**
 * When to subscribe a mailbox whose subscription Exchange lost. A first loss is answered at
 * once (a restart, a moved mailbox); a replacement lost again within a minute of being made
 * is the same failure, so the wait grows instead of starting over. When several mailboxes
 * keep losing theirs, the trouble is Exchange's, not theirs: every mailbox then waits, and
 * one — the probe — is subscribed again at growing intervals until its subscription holds
 * for stableMs; only then are the others subscribed again. So a server that forgets every
 * subscription gets a few requests a minute, not a few per mailbox per second.
 */
export class SubscriptionChurn {
  private readonly made = new Map<string, { cycles: number; subscribedAt?: number }>();
  private recentRepeats: Array<{ mailbox: string; at: number }> = [];
  private outage: Outage | undefined;

  constructor(private readonly options: SubscriptionChurnOptions) {}

  /** A mailbox's subscription was made. */
  subscribed(mailbox: string): void {
    const entry = this.made.get(mailbox) ?? { cycles: 0 };
    entry.subscribedAt = this.options.now();
    this.made.set(mailbox, entry);
    const outage = this.outage;
    if (outage?.probe === mailbox) {
      clearTimeout(outage.timer);
      outage.timer = setTimeout(() => this.probeHeld(mailbox), this.options.stableMs);
      outage.timer.unref?.();
    }
  }

  /**
   * A mailbox's subscription was lost: the delay before subscribing it again, or undefined
   * when it waits for an outage to end. `population` is the number of mailboxes attached.
   */
  lost(mailbox: string, population: number): number | undefined {
    const now = this.options.now();
    const entry = this.made.get(mailbox) ?? { cycles: 0 };
    this.made.set(mailbox, entry);
    // Only a subscription made to replace a lost one can be lost "again": the first loss of a
    // subscription made at start (a server restart seconds after we started) is a first loss.
    const repeated = entry.cycles >= 1 && entry.subscribedAt !== undefined && now - entry.subscribedAt < this.options.stableMs;
    entry.cycles = repeated ? entry.cycles + 1 : 1;
    entry.subscribedAt = undefined;
    const outage = this.outage;
    if (outage) {
      if (outage.probe !== mailbox) {
        outage.waiting.add(mailbox);
        return undefined;
      }
      clearTimeout(outage.timer);
      outage.probes++;
      return backoffDelay(this.options.probePolicy, outage.probes);
    }
    if (repeated) {
      this.recentRepeats = this.recentRepeats.filter((r) => now - r.at < this.options.stableMs && r.mailbox !== mailbox);
      this.recentRepeats.push({ mailbox, at: now });
      if (this.recentRepeats.length >= Math.max(1, Math.min(this.options.outageMailboxes, population))) {
        this.outage = { since: now, probe: mailbox, probes: 1, waiting: new Set() };
        this.options.onOutage({ open: true, probe: mailbox, mailboxes: this.recentRepeats.length });
        this.recentRepeats = [];
        return backoffDelay(this.options.probePolicy, 1);
      }
    }
    return entry.cycles <= 1 ? 0 : backoffDelay(this.options.policy, entry.cycles - 1);
  }

  /** Whether this loss is a repeat (lost again within stableMs) or the mailbox waits: log it quietly. */
  isRepeat(mailbox: string): boolean {
    return (this.made.get(mailbox)?.cycles ?? 0) > 1 || this.outage?.waiting.has(mailbox) === true;
  }

  state(): OutageState | undefined {
    const o = this.outage;
    return o ? { since: o.since, probe: o.probe, probes: o.probes, waiting: o.waiting.size } : undefined;
  }

  /** The mailbox left the sync (removed from the list, paused). */
  forget(mailbox: string): void {
    this.made.delete(mailbox);
    const outage = this.outage;
    if (!outage) return;
    outage.waiting.delete(mailbox);
    if (outage.probe !== mailbox) return;
    clearTimeout(outage.timer);
    const next = outage.waiting.values().next();
    if (next.done) return this.close();
    outage.probe = next.value;
    outage.waiting.delete(next.value);
    this.options.reattach(next.value, backoffDelay(this.options.probePolicy, outage.probes));
  }

  stop(): void {
    clearTimeout(this.outage?.timer);
  }

  private probeHeld(mailbox: string): void {
    const outage = this.outage;
    if (!outage || outage.probe !== mailbox || this.made.get(mailbox)?.subscribedAt === undefined) return;
    this.close();
  }

  private close(): void {
    const outage = this.outage;
    if (!outage) return;
    this.outage = undefined;
    clearTimeout(outage.timer);
    this.options.onOutage({ open: false, probe: outage.probe, waiting: outage.waiting.size, probes: outage.probes, durationMs: this.options.now() - outage.since });
    for (const m of outage.waiting) {
      // they start afresh: a loss after this is a first loss again
      this.made.set(m, { cycles: 0 });
      this.options.reattach(m, 0);
    }
  }
}
