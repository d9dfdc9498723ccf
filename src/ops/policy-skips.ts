/** A rule of the sync policy that kept a change from one side. */
export type PolicyRule = 'direction' | 'private' | 'category' | 'meeting';

/**
 * Per mailbox, how many changes each rule of the sync policy kept from the other side since the
 * start (this instance's share): what the status page shows beside the mailbox's direction, so
 * "why is this item not in the CRM?" has an answer there. ecs_policy_skipped_total has the totals.
 */
export class PolicySkips {
  private readonly byMailbox = new Map<string, Partial<Record<PolicyRule, number>>>();

  count(mailbox: string, rule: PolicyRule): void {
    const key = mailbox.toLowerCase();
    const counts = this.byMailbox.get(key) ?? {};
    counts[rule] = (counts[rule] ?? 0) + 1;
    this.byMailbox.set(key, counts);
  }

  of(mailbox: string): Partial<Record<PolicyRule, number>> | undefined {
    return this.byMailbox.get(mailbox.toLowerCase());
  }
}
