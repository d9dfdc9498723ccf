import type { MailboxDirectory } from './mailbox-directory.js';

/**
 * Delegate access (no impersonation) charges every subscription and every streaming connection
 * to the service account's own budget — EWSMaxSubscriptions (one per mailbox) and
 * HangingConnectionLimit (one per group of up to 200 mailboxes) — so one account carries a
 * bounded number of mailboxes. With impersonation each mailbox's budget carries its own.
 */
export interface AccountBudget {
  readonly account: string;
  readonly mode: 'EwsStream' | 'EwsPull';
  readonly maxSubscriptions: number;
  readonly maxConnections: number;
  readonly mailboxesPerConnection: number;
}

/** How many mailboxes the account can carry. */
export function mailboxCapacity(b: AccountBudget): number {
  return b.mode === 'EwsPull' ? b.maxSubscriptions : Math.min(b.maxSubscriptions, b.maxConnections * b.mailboxesPerConnection);
}

/** Why `count` mailboxes do not fit, with the numbers; null when they do. */
export function capacityProblem(count: number, b: AccountBudget): string | null {
  const capacity = mailboxCapacity(b);
  if (count <= capacity) return null;
  const connections = Math.ceil(count / b.mailboxesPerConnection);
  const needs = b.mode === 'EwsPull' ? `${count} subscriptions` : `${count} subscriptions and ${connections} streaming connections`;
  const allows = b.mode === 'EwsPull' ? `${b.maxSubscriptions} subscriptions (EWSMaxSubscriptions)` : `${b.maxSubscriptions} subscriptions (EWSMaxSubscriptions) and ${b.maxConnections} streaming connections (HangingConnectionLimit) of up to ${b.mailboxesPerConnection} mailboxes`;
  return `delegate access charges everything to ${b.account}: ${count} mailboxes need ${needs}; the account allows ${allows}, enough for ${capacity} — ${count - capacity} mailboxes are not synced. Use impersonation (each mailbox's own budget), or raise the account's limits in its throttling policy and in maxSubscriptionsPerAccount / maxConnectionsPerAccount`;
}

/**
 * The mailboxes the account can carry — the first by address, so every instance of a scaled-out
 * sync agrees — and the ones left over, which the status page names (never dropped silently).
 */
export class CapacityLimitedDirectory implements MailboxDirectory {
  readonly description: string;
  /** Mailboxes the last list left out, and why. */
  overflow: { mailboxes: string[]; reason: string } | undefined;

  constructor(private readonly inner: MailboxDirectory, private readonly budget: AccountBudget, private readonly onOverflow?: (reason: string, left: string[]) => void) {
    this.description = `${inner.description} (at most ${mailboxCapacity(budget)} on ${budget.account}: delegate access)`;
  }

  get changes(): MailboxDirectory['changes'] {
    return this.inner.changes;
  }

  async list(): Promise<string[]> {
    const all = await this.inner.list();
    const capacity = mailboxCapacity(this.budget);
    const reason = capacityProblem(all.length, this.budget);
    const before = this.overflow?.reason;
    this.overflow = reason ? { mailboxes: all.slice(capacity), reason } : undefined;
    if (reason && reason !== before) this.onOverflow?.(reason, all.slice(capacity));
    return all.slice(0, capacity);
  }
}
