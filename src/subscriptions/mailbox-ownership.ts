import { Subject, type Observable } from 'rxjs';
import type { MailboxDirectory } from './mailbox-directory.js';

/**
 * Which mailboxes this instance syncs when several share the work: each mailbox hashes to a
 * partition of the `<prefix>mailboxes` topic, and the instance owns the mailboxes of the
 * partitions its consumer group gave it. When an instance joins or dies, Kafka rebalances
 * and the mailboxes follow; they resume from their saved positions.
 */
export class MailboxOwnership {
  private assigned = new Set<number>();
  private partitionCount = 0;
  private readonly changed = new Subject<void>();
  readonly changes: Observable<void> = this.changed.asObservable();

  /** From the group's assignment (the embedded log: every partition). */
  assign(partitions: readonly number[], partitionCount: number): void {
    const same = partitionCount === this.partitionCount && partitions.length === this.assigned.size && partitions.every((p) => this.assigned.has(p));
    this.assigned = new Set(partitions);
    this.partitionCount = partitionCount;
    if (!same) this.changed.next();
  }

  get partitions(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  /** Nothing before the first assignment: better to wait a moment than to sync twice. */
  owns(mailbox: string): boolean {
    return this.partitionCount > 0 && this.assigned.has(partitionOfMailbox(mailbox, this.partitionCount));
  }
}

/** FNV-1a of the address, modulo the partitions: stable across instances and restarts. */
export function partitionOfMailbox(mailbox: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < mailbox.length; i++) {
    hash ^= mailbox.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/** The configured directory, narrowed to the mailboxes this instance owns. */
export class OwnedDirectory implements MailboxDirectory {
  readonly description: string;
  readonly changes: Observable<unknown>;

  constructor(private readonly inner: MailboxDirectory, private readonly ownership: MailboxOwnership) {
    this.description = `${inner.description} (the share of this instance)`;
    this.changes = ownership.changes;
  }

  async list(): Promise<string[]> {
    return (await this.inner.list()).filter((m) => this.ownership.owns(m));
  }
}
