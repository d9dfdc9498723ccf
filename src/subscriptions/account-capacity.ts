import type { AdviseMode, EwsSettings, SyncConfig } from '../config/index.js';
import type { MailboxDirectory } from './mailbox-directory.js';

/**
 * Delegate access (no impersonation) charges every subscription and every streaming connection
 * to the service account's own budget — EWSMaxSubscriptions (one per mailbox) and
 * HangingConnectionLimit (one per group of up to 200 mailboxes) — so one account carries a
 * bounded number of mailboxes. With impersonation each mailbox's budget carries its own.
 */
export interface AccountBudget {
  /** The service accounts the mailboxes are spread over (each with the limits below). */
  readonly accounts: readonly string[];
  readonly mode: AdviseMode;
  readonly maxSubscriptions: number;
  readonly maxConnections: number;
  readonly mailboxesPerConnection: number;
}

/** Mailboxes per streaming connection: with several accounts a group must fit one account's subscriptions. */
export function groupSizeOf(b: AccountBudget): number {
  return b.accounts.length > 1 ? Math.min(b.mailboxesPerConnection, b.maxSubscriptions) : b.mailboxesPerConnection;
}

/** How many mailboxes the accounts can carry together. */
export function mailboxCapacity(b: AccountBudget): number {
  if (b.mode === 'EwsPull') return b.accounts.length * b.maxSubscriptions;
  if (b.accounts.length === 1) return Math.min(b.maxSubscriptions, b.maxConnections * b.mailboxesPerConnection);
  // a group (its subscriptions and its connection) lives in one account
  const size = groupSizeOf(b);
  return b.accounts.length * Math.min(b.maxConnections, Math.floor(b.maxSubscriptions / size)) * size;
}

/** Why `count` mailboxes do not fit, with the numbers; null when they do. */
export function capacityProblem(count: number, b: AccountBudget): string | null {
  const capacity = mailboxCapacity(b);
  if (count <= capacity) return null;
  const size = groupSizeOf(b);
  const connections = Math.ceil(count / size);
  const needs = b.mode === 'EwsPull' ? `${count} subscriptions` : `${count} subscriptions and ${connections} streaming connections`;
  const allows = b.mode === 'EwsPull' ? `${b.maxSubscriptions} subscriptions (EWSMaxSubscriptions)` : `${b.maxSubscriptions} subscriptions (EWSMaxSubscriptions) and ${b.maxConnections} streaming connections (HangingConnectionLimit) of up to ${size} mailboxes`;
  const who = b.accounts.length === 1 ? `${b.accounts[0]}: ${count} mailboxes need ${needs}; the account allows ${allows}` : `the ${b.accounts.length} service accounts: ${count} mailboxes need ${needs}; each account allows ${allows}`;
  return `delegate access charges everything to ${who}, enough for ${capacity} — ${count - capacity} mailboxes are not synced. Use impersonation (each mailbox's own budget), add <account> elements, or raise the accounts' limits in their throttling policy and in maxSubscriptionsPerAccount / maxConnectionsPerAccount`;
}

/**
 * The mailboxes the account can carry — the first by address, so every instance of a scaled-out
 * sync agrees — and the ones left over, which the status page names (never dropped silently).
 */
export class CapacityLimitedDirectory implements MailboxDirectory {
  readonly description: string;
  /** Mailboxes the last list left out, and why. */
  overflow: { mailboxes: string[]; reason: string } | undefined;

  /**
   * `onListed`: told every mailbox carried, of all instances — several accounts plan from it
   * which account carries which mailbox, alike in every instance.
   */
  constructor(private readonly inner: MailboxDirectory, private readonly budget: AccountBudget, private readonly onOverflow?: (reason: string, left: string[]) => void, private readonly onListed?: (carried: readonly string[]) => void) {
    this.description = `${inner.description} (at most ${mailboxCapacity(budget)} on ${budget.accounts.join(', ')}: delegate access)`;
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
    const carried = all.slice(0, capacity);
    this.onListed?.(carried);
    return carried;
  }
}

/** The service account's budget under delegate access (no impersonation). */
export function budgetOf(config: SyncConfig, ews: EwsSettings): AccountBudget {
  return {
    accounts: [ews.user, ...(ews.accounts ?? []).map((a) => a.user)], mode: config.exchange.mode, maxSubscriptions: ews.maxSubscriptionsPerAccount ?? 20, maxConnections: ews.maxConnectionsPerAccount ?? 10,
    mailboxesPerConnection: config.exchange.stream.maxSubscriptionsPerConnection,
  };
}
