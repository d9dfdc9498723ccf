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

export function planGroups(current: ReadonlyMap<string, number>, desired: readonly string[], max: number): GroupPlan {
  const wanted = new Set(desired);
  const assignment = new Map<string, number>();
  const removed: Array<{ mailbox: string; group: number }> = [];
  const sizes: number[] = [];
  for (const [mailbox, group] of current) {
    if (wanted.has(mailbox)) {
      assignment.set(mailbox, group);
      sizes[group] = (sizes[group] ?? 0) + 1;
    } else {
      removed.push({ mailbox, group });
    }
  }
  const added: Array<{ mailbox: string; group: number }> = [];
  let cursor = 0;
  for (const mailbox of desired) {
    if (assignment.has(mailbox)) continue;
    while ((sizes[cursor] ?? 0) >= max) cursor++;
    assignment.set(mailbox, cursor);
    sizes[cursor] = (sizes[cursor] ?? 0) + 1;
    added.push({ mailbox, group: cursor });
  }
  return { assignment, added, removed };
}
