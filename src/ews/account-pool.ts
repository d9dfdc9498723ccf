import { createHash } from 'node:crypto';
import { defer, type Observable } from 'rxjs';
import type { EwsClient } from './ews-client.js';
import { ewsError } from './ews-error.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { AffinityGroup, ExchangePort, FetchedItem, FolderKind, ListedItem, PullEvents, StreamMessage, SyncPage, UpdateOutcome, KeptProperties } from './exchange-port.js';

/**
 * Several service accounts under delegate access ("ranks"): Exchange charges each account's
 * subscriptions and streaming connections to that account, so the mailboxes are spread over
 * them. A streaming group — its subscriptions and its connection — belongs to one account
 * (a subscription is only readable by the account that made it); a pulled mailbox's
 * subscription too. Everything else of a mailbox goes through its account, or, for a mailbox
 * this instance does not subscribe (a handler writing to it), an account chosen by its address.
 *
 * Scaled out, each instance holds a pool of its own: which account carries a mailbox is
 * planned from the whole mailbox list (`plan`), which every instance reads alike, so the
 * instances together never put more mailboxes on an account than it carries — an instance
 * counting only its own would believe it had every account's whole budget.
 */
/** One service account's budget as the status page shows it. */
export interface AccountShare {
  readonly account: string;
  /** Mailboxes the plan puts on the account, across every instance. */
  readonly plannedMailboxes: number;
  /** What this instance holds of the account's budget now. */
  readonly subscriptions: number;
  readonly connections: number;
  readonly maxSubscriptions: number;
  readonly maxConnections: number;
}

export class AccountPool implements ExchangePort {
  readonly url: string;
  private readonly groupsOf: number[];
  private readonly subscriptionsOf: number[];
  private readonly accountOfGroup = new Map<string, number>();
  private readonly accountOfMailbox = new Map<string, number>();
  /** The mailboxes subscribed in each streaming group (by anchor): an emptied group gives its connection back. */
  private readonly membersOfGroup = new Map<string, Set<string>>();
  /** The account of each mailbox of the whole list (every instance's), from the last `plan`. */
  private planned = new Map<string, number>();
  private plannedCounts: number[] = [];

  /**
   * `groupSize`: mailboxes per streaming group; an account takes as many groups as both its
   * connections and its subscriptions allow.
   */
  /** `pulled`: EwsPull — no streaming connections, an account carries as many mailboxes as subscriptions. */
  constructor(private readonly clients: readonly EwsClient[], private readonly limits: { maxSubscriptions: number; maxConnections: number; groupSize: number; pulled?: boolean }, private readonly names: readonly string[] = clients.map((_, i) => `account ${i + 1}`)) {
    if (!clients.length) throw new Error('AccountPool needs at least one account');
    this.url = clients[0].url;
    this.groupsOf = clients.map(() => 0);
    this.subscriptionsOf = clients.map(() => 0);
  }

  /** Streaming groups one account takes: as many as both its connections and its subscriptions allow. */
  private get groupsPerAccount(): number {
    return Math.min(this.limits.maxConnections, Math.floor(this.limits.maxSubscriptions / Math.max(1, this.limits.groupSize)));
  }

  /** Mailboxes one account carries (EwsPull: no groups, as many as its subscriptions). */
  private get perAccount(): number {
    return this.limits.pulled ? this.limits.maxSubscriptions : this.groupsPerAccount * Math.max(1, this.limits.groupSize);
  }

  /**
   * Plans which account carries each mailbox of the whole list (all instances'): the account
   * its address hashes to, or — that one full — the next with room, in address order. The
   * same list gives the same plan in every instance; a mailbox added or removed moves at
   * most the few that spilled over. A mailbox already subscribed keeps its account until
   * it is unsubscribed (a subscription lives in the account that made it).
   */
  plan(mailboxes: readonly string[]): void {
    const counts = this.clients.map(() => 0);
    const planned = new Map<string, number>();
    const room = this.perAccount;
    for (const mailbox of [...mailboxes].sort()) {
      const first = this.byAddress(mailbox);
      for (let k = 0; k < this.clients.length; k++) {
        const i = (first + k) % this.clients.length;
        if (counts[i] < room) {
          planned.set(mailbox, i);
          counts[i]++;
          break;
        }
      }
    }
    this.planned = planned;
    this.plannedCounts = counts;
  }

  /** The account a mailbox is (or will be) subscribed through: its streaming group's key. */
  accountFor(mailbox: string): number {
    return this.accountOfMailbox.get(mailbox) ?? this.planned.get(mailbox) ?? this.byAddress(mailbox);
  }

  /** Each account's budget for the status page: what the plan gives it in all, and what this instance holds of it. */
  budget(): AccountShare[] {
    return this.clients.map((_, i) => ({
      account: this.names[i], plannedMailboxes: this.plannedCounts[i] ?? 0, subscriptions: this.subscriptionsOf[i], connections: this.groupsOf[i],
      maxSubscriptions: this.limits.maxSubscriptions, maxConnections: this.limits.maxConnections,
    }));
  }

  /** The planned account if it has room here, else the one with the most room. */
  private choose(mailbox: string, kind: 'group' | 'subscription'): number {
    const planned = this.planned.get(mailbox);
    if (planned !== undefined && this.hasRoom(planned, kind)) return planned;
    return this.pick(kind);
  }

  private hasRoom(i: number, kind: 'group' | 'subscription'): boolean {
    return kind === 'group' ? this.groupsOf[i] < this.groupsPerAccount : this.subscriptionsOf[i] < this.limits.maxSubscriptions;
  }

  /** The account with the most room, or an ErrorExceeded… naming the limits when none has any. */
  private pick(kind: 'group' | 'subscription'): number {
    let best = -1;
    for (let i = 0; i < this.clients.length; i++) {
      if (this.hasRoom(i, kind) && (best < 0 || this.subscriptionsOf[i] < this.subscriptionsOf[best])) best = i;
    }
    if (best < 0) {
      throw ewsError(kind === 'group' ? 'ErrorExceededConnectionCount' : 'ErrorExceededSubscriptionCount',
        `all ${this.clients.length} service accounts are full (${this.limits.maxConnections} streaming connections, ${this.limits.maxSubscriptions} subscriptions each)`);
    }
    return best;
  }

  private byAddress(mailbox: string): number {
    return createHash('sha1').update(mailbox.toLowerCase()).digest().readUInt32BE(0) % this.clients.length;
  }

  private of(mailbox: string): EwsClient {
    return this.clients[this.accountFor(mailbox)];
  }

  private groupAccount(group: AffinityGroup): number {
    let i = this.accountOfGroup.get(group.anchorMailbox);
    if (i === undefined) {
      // the source forms groups by planned account: the anchor's is the group's
      i = this.choose(group.anchorMailbox, 'group');
      this.accountOfGroup.set(group.anchorMailbox, i);
      this.groupsOf[i]++;
    }
    return i;
  }

  /** Which account carries a mailbox's subscription (for tests and the status page). */
  accountOf(mailbox: string): number | undefined {
    return this.accountOfMailbox.get(mailbox);
  }

  folderIds(mailbox: string, folders: readonly FolderKind[]): Promise<Record<string, FolderKind>> {
    return this.of(mailbox).folderIds(mailbox, folders);
  }

  syncFolderItems(mailbox: string, folder: FolderKind, syncState: string | null, maxChanges: number): Promise<SyncPage> {
    return this.of(mailbox).syncFolderItems(mailbox, folder, syncState, maxChanges);
  }

  async subscribePull(mailbox: string, folders: readonly FolderKind[], timeoutMinutes: number, watermark?: string): Promise<{ subscriptionId: string; watermark: string }> {
    const held = this.accountOfMailbox.get(mailbox);
    const i = held ?? this.choose(mailbox, 'subscription');
    if (held === undefined) {
      this.accountOfMailbox.set(mailbox, i);
      this.subscriptionsOf[i]++;
    }
    return this.clients[i].subscribePull(mailbox, folders, timeoutMinutes, watermark);
  }

  getEvents(mailbox: string, subscriptionId: string, watermark: string): Promise<PullEvents> {
    return this.of(mailbox).getEvents(mailbox, subscriptionId, watermark);
  }

  async subscribeStreaming(mailbox: string, folders: readonly FolderKind[], group: AffinityGroup): Promise<string> {
    const i = this.groupAccount(group);
    const before = this.accountOfMailbox.get(mailbox);
    if (before !== i) {
      if (before !== undefined) this.subscriptionsOf[before]--;
      this.accountOfMailbox.set(mailbox, i);
      this.subscriptionsOf[i]++;
    }
    const members = this.membersOfGroup.get(group.anchorMailbox) ?? new Set<string>();
    this.membersOfGroup.set(group.anchorMailbox, members.add(mailbox));
    return this.clients[i].subscribeStreaming(mailbox, folders, group);
  }

  streamEvents(group: AffinityGroup, subscriptionIds: readonly string[], lifetimeMinutes: number): Observable<StreamMessage> {
    return defer(() => this.clients[this.groupAccount(group)].streamEvents(group, subscriptionIds, lifetimeMinutes));
  }

  async unsubscribe(mailbox: string, subscriptionId: string, group?: AffinityGroup): Promise<void> {
    const i = this.accountOfMailbox.get(mailbox) ?? (group ? this.accountOfGroup.get(group.anchorMailbox) : undefined) ?? this.byAddress(mailbox);
    await this.clients[i].unsubscribe(mailbox, subscriptionId, group);
    if (this.accountOfMailbox.get(mailbox) === i) {
      this.accountOfMailbox.delete(mailbox);
      this.subscriptionsOf[i]--;
    }
    const anchor = group?.anchorMailbox;
    const members = anchor === undefined ? undefined : this.membersOfGroup.get(anchor);
    if (anchor !== undefined && members?.delete(mailbox) && members.size === 0) {
      this.membersOfGroup.delete(anchor);
      const held = this.accountOfGroup.get(anchor);
      if (held !== undefined) this.groupsOf[held]--;
      this.accountOfGroup.delete(anchor);
    }
  }

  createItem(mailbox: string, folder: FolderKind, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }> {
    return this.of(mailbox).createItem(mailbox, folder, fields, crmId);
  }

  findStamped(mailbox: string, folder: FolderKind, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined> {
    return this.of(mailbox).findStamped(mailbox, folder, crmId);
  }

  updateItem(mailbox: string, folder: FolderKind, itemId: string, fields: ItemFields, ifChangeKey?: string, keep?: KeptProperties): Promise<UpdateOutcome> {
    return this.of(mailbox).updateItem(mailbox, folder, itemId, fields, ifChangeKey, keep);
  }

  updateOccurrence(mailbox: string, masterItemId: string, originalStart: string, fields: ItemFields | null, keep?: KeptProperties): Promise<{ before: string; after: string } | undefined> {
    return this.of(mailbox).updateOccurrence(mailbox, masterItemId, originalStart, fields, keep);
  }

  deleteItem(mailbox: string, itemId: string): Promise<boolean> {
    return this.of(mailbox).deleteItem(mailbox, itemId);
  }

  getItems(mailbox: string, folder: FolderKind, itemIds: readonly string[]): Promise<FetchedItem[]> {
    return this.of(mailbox).getItems(mailbox, folder, itemIds);
  }

  listFolder(mailbox: string, folder: FolderKind): Promise<ListedItem[]> {
    return this.of(mailbox).listFolder(mailbox, folder);
  }

  ensureContactFolder(mailbox: string, displayName: string): Promise<string> {
    return this.of(mailbox).ensureContactFolder(mailbox, displayName);
  }

  renameFolder(mailbox: string, folderId: string, displayName: string): Promise<boolean> {
    return this.of(mailbox).renameFolder(mailbox, folderId, displayName);
  }

  deleteFolder(mailbox: string, folderId: string): Promise<boolean> {
    return this.of(mailbox).deleteFolder(mailbox, folderId);
  }

  createContacts(mailbox: string, folderId: string, entries: ReadonlyArray<{ fields: ItemFields; crmId: string }>): Promise<Array<{ itemId: string; changeKey: string } | { error: Error }>> {
    return this.of(mailbox).createContacts(mailbox, folderId, entries);
  }

  stampedIn(mailbox: string, folderId: string): Promise<Map<string, { itemId: string; changeKey: string }>> {
    return this.of(mailbox).stampedIn(mailbox, folderId);
  }

  deleteItems(mailbox: string, itemIds: readonly string[]): Promise<void> {
    return this.of(mailbox).deleteItems(mailbox, itemIds);
  }

  /** The first refusal among the accounts, for the status page. */
  authRefusal(): string | null {
    for (const c of this.clients) {
      const r = c.authRefusal();
      if (r) return r;
    }
    return null;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
  }
}
