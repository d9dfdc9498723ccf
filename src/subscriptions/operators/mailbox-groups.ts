/**
 * Assigns mailboxes to streaming groups of at most `max` (one connection each). Members
 * keep their group as long as they stay; a removed mailbox frees its place; new mailboxes
 * fill the lowest-numbered group with room, so groups stay few and stable.
 */
export interface GroupPlan {
  /** mailbox → group index */
  readonly assignment: ReadonlyMap<string, number>;
  readonly added: ReadonlyArray<{ mailbox: string; group: number }>;
  readonly removed: ReadonlyArray<{ mailbox: string; group: number }>;
}

/**
 * `keyOf`: what must be the same within a group (under delegate access with several accounts,
 * the account: a connection reads only its own account's subscriptions). A group takes the
 * key of its first member; a member already placed keeps its group.
 */
export function planGroups(current: ReadonlyMap<string, number>, desired: readonly string[], max: number, keyOf: (mailbox: string) => string = () => ''): GroupPlan {
  const wanted = new Set(desired);
  const assignment = new Map<string, number>();
  const removed: Array<{ mailbox: string; group: number }> = [];
  const sizes: number[] = [];
  const keys: Array<string | undefined> = [];
  for (const [mailbox, group] of current) {
    if (wanted.has(mailbox)) {
      assignment.set(mailbox, group);
      sizes[group] = (sizes[group] ?? 0) + 1;
      keys[group] ??= keyOf(mailbox);
    } else {
      removed.push({ mailbox, group });
    }
  }
  const added: Array<{ mailbox: string; group: number }> = [];
  for (const mailbox of desired) {
    if (assignment.has(mailbox)) continue;
    const key = keyOf(mailbox);
    // the lowest group of this key with room (no connection more than needed), else the lowest empty one
    let group = sizes.findIndex((n, g) => n !== undefined && n > 0 && n < max && keys[g] === key);
    if (group < 0) {
      group = 0;
      while ((sizes[group] ?? 0) > 0) group++;
    }
    assignment.set(mailbox, group);
    sizes[group] = (sizes[group] ?? 0) + 1;
    keys[group] = key;
    added.push({ mailbox, group });
  }
  return { assignment, added, removed };
}
