import { defer, NEVER, Subscription } from 'rxjs';
import { Gauge } from 'prom-client';
import type { FolderKind, NotificationEvent, StreamMessage } from '../ews/exchange-port.js';
import { exchangeErrorCategory, ExchangeError } from '../shared/errors.js';
import { planGroups } from './operators/mailbox-groups.js';
import { reconnecting } from './operators/reconnecting.js';
import { watchdog } from './operators/watchdog.js';
import { EwsSourceBase, type EwsSourceOptions } from './ews-source-base.js';

export interface StreamSourceOptions extends EwsSourceOptions {
  maxSubscriptionsPerConnection: number;
  connectionLifetimeMs: number;
  heartbeatTimeoutMs: number;
  /** What the members of a group share besides its server (several service accounts: the account). */
  groupKeyOf?: (mailbox: string) => string;
}

interface Member {
  subscriptionId?: string;
}

/** Subscriptions of up to 200 mailboxes sharing one connection and one mailbox server. */
interface StreamGroup {
  readonly index: number;
  /** X-AnchorMailbox of every request of the group. */
  anchor: string;
  /**
   * The member its connection impersonates, whose budget carries it: the anchor, or — when
   * that budget's HangingConnectionLimit is full (other applications impersonating it too) —
   * the next member, and so on.
   */
  connecting?: string;
  readonly members: Map<string, Member>;
  connection?: Subscription;
  /** The connection being replaced, kept briefly so nothing in flight on it is lost. */
  previous: Subscription[];
  reopenTimer?: NodeJS.Timeout;
  lifetimeTimer?: NodeJS.Timeout;
  open: boolean;
  /** A GetStreamingEvents of the current connection was sent and the server has not answered it yet. */
  awaitingServer?: boolean;
}

/** A replaced connection is read this much longer (events may still be on its wire). */
const OVERLAP_MS = 3_000;
/** New subscriptions are batched this long before the group's connection is reopened. */
const REOPEN_DEBOUNCE_MS = 250;

/**
 * EwsStream: streaming subscriptions grouped up to maxSubscriptionsPerConnection per
 * GetStreamingEvents connection, each group pinned to one mailbox server (X-AnchorMailbox
 * of its first mailbox, X-PreferServerAffinity, the backend cookie), connections reopened
 * before their lifetime runs out, a watchdog for silent connections, and a gap-closing
 * sync after anything that may have lost events.
 */
export class StreamSource extends EwsSourceBase {
  readonly mode = 'EwsStream' as const;
  private readonly groups: StreamGroup[] = [];
  private readonly groupOf = new Map<string, number>();
  private readonly bySubscription = new Map<string, string>();
  private readonly streamOptions: StreamSourceOptions;

  constructor(options: StreamSourceOptions) {
    super(options);
    this.streamOptions = options;
    if (options.metrics) {
      const gauge: Gauge = new Gauge({ name: 'ecs_ews_streaming_connections', help: 'Streaming connections open', registers: [options.metrics], collect: () => gauge.set(this.connectionCount()) });
    }
  }

  protected connectionCount(): number {
    return this.groups.filter((g) => g.open).length;
  }

  protected override beforeAttachMany(mailboxes: readonly string[]): void {
    const plan = planGroups(this.groupOf, [...this.groupOf.keys(), ...mailboxes], this.streamOptions.maxSubscriptionsPerConnection, this.streamOptions.groupKeyOf);
    for (const { mailbox, group } of plan.added) {
      this.groupOf.set(mailbox, group);
      const g = (this.groups[group] ??= { index: group, anchor: mailbox, members: new Map(), previous: [], open: false });
      // a group emptied and taken again is anchored on its new first member (its server, its account)
      if (g.members.size === 0) g.anchor = mailbox;
      g.members.set(mailbox, {});
    }
  }

  protected async subscribeMailbox(mailbox: string): Promise<void> {
    if (!this.groupOf.has(mailbox)) this.beforeAttachMany([mailbox]);
    const group = this.groups[this.groupOf.get(mailbox)!];
    const member = group.members.get(mailbox) ?? {};
    group.members.set(mailbox, member);
    const folderIds = await this.folderIds(mailbox);
    this.folderIdsOf.set(mailbox, folderIds);
    const id = await this.limiter.run(() => this.exchange.subscribeStreaming(mailbox, this.options.folders, { anchorMailbox: group.anchor }));
    if (member.subscriptionId) this.bySubscription.delete(member.subscriptionId);
    member.subscriptionId = id;
    this.bySubscription.set(id, mailbox);
    this.scheduleReopen(group);
  }

  private readonly folderIdsOf = new Map<string, Record<string, FolderKind>>();

  protected async unsubscribeMailbox(mailbox: string): Promise<void> {
    const index = this.groupOf.get(mailbox);
    if (index === undefined) return;
    const group = this.groups[index];
    const member = group.members.get(mailbox);
    const id = member?.subscriptionId;
    if (member) member.subscriptionId = undefined;
    if (!this.attached.has(mailbox)) {
      group.members.delete(mailbox);
      this.groupOf.delete(mailbox);
    }
    if (id) {
      this.bySubscription.delete(id);
      await this.exchange.unsubscribe(mailbox, id, { anchorMailbox: group.anchor });
    }
  }

  protected override dropSubscription(mailbox: string): void {
    const member = this.groups[this.groupOf.get(mailbox) ?? -1]?.members.get(mailbox);
    if (member?.subscriptionId) this.bySubscription.delete(member.subscriptionId);
    if (member) member.subscriptionId = undefined;
  }

  protected async stopMode(): Promise<void> {
    for (const g of this.groups) {
      clearTimeout(g.reopenTimer);
      clearTimeout(g.lifetimeTimer);
      g.connection?.unsubscribe();
      for (const p of g.previous) p.unsubscribe();
      g.open = false;
    }
    // Unsubscribe so Exchange stops queuing events for us (they would expire in ~30 minutes anyway).
    const work = [...this.bySubscription.entries()].map(([id, mailbox]) => {
      const group = this.groups[this.groupOf.get(mailbox) ?? 0];
      return this.limiter.run(() => this.exchange.unsubscribe(mailbox, id, { anchorMailbox: group?.anchor ?? mailbox })).catch(() => undefined);
    });
    await Promise.race([Promise.all(work), new Promise((r) => setTimeout(r, 5_000))]);
  }

  private scheduleReopen(group: StreamGroup, delay = REOPEN_DEBOUNCE_MS): void {
    if (this.stopping) return;
    clearTimeout(group.reopenTimer);
    group.reopenTimer = setTimeout(() => this.open(group), delay);
  }

  /** Opens (or replaces) the group's connection with all its current subscriptions. */
  private open(group: StreamGroup): void {
    if (this.stopping) return;
    // The newest GetStreamingEvents to reach the server takes the subscriptions it names. One
    // sent while the previous is still on its way may arrive first: the previous would then take
    // its subscriptions back, and leave them on nothing when it is closed — their events never
    // delivered. So a connection is replaced only once the server has taken it (a broken one
    // reconnects with every live subscription by itself).
    if (group.connection && group.awaitingServer) {
      this.scheduleReopen(group);
      return;
    }
    const ids = [...group.members.values()].map((m) => m.subscriptionId).filter((id): id is string => id !== undefined);
    if (group.connection) {
      const old = group.connection;
      group.previous.push(old);
      setTimeout(() => {
        old.unsubscribe();
        group.previous = group.previous.filter((p) => p !== old);
      }, OVERLAP_MS).unref();
    }
    group.connection = undefined;
    group.open = false;
    group.awaitingServer = false;
    if (!ids.length) return;
    const { connectionLifetimeMs, heartbeatTimeoutMs } = this.streamOptions;
    const minutes = Math.min(30, Math.max(1, Math.ceil(connectionLifetimeMs / 60_000)));
    let connection: Subscription | undefined = undefined;
    const current = (): boolean => group.connection === connection;
    connection = defer(() => {
      const live = [...group.members.values()].map((m) => m.subscriptionId).filter((id): id is string => id !== undefined);
      // A replaced connection never connects again: the newest connection of a subscription takes
      // it over on the server, so a reconnect of the old one would steal the group's subscriptions
      // from the new one, and leave them on nothing once the old one is closed. Without live
      // subscriptions there is nothing to listen for: the resubscribed mailboxes open a new one.
      if (!current() || !live.length) return NEVER;
      group.awaitingServer = true;
      return this.exchange.streamEvents({ anchorMailbox: group.anchor, ...(group.connecting ? { connectingMailbox: group.connecting } : {}) }, live, minutes).pipe(watchdog(heartbeatTimeoutMs));
    })
      .pipe(
        reconnecting({
          policy: this.options.retryPolicy,
          serverDelayOf: (err) => (err instanceof ExchangeError ? err.retryAfterMs : undefined),
          onRetry: (err, attempt, delayMs) => {
            if (!current()) return;
            group.open = false;
            group.awaitingServer = false;
            if (err instanceof ExchangeError && err.budgetFull === 'connections') {
              // the budget this connection is charged to is full: charge the next member's
              const members = [...group.members.keys()];
              const next = members[(members.indexOf(group.connecting ?? group.anchor) + 1) % members.length];
              this.logger.warn({ event: 'stream.budget-full', group: group.index, mailbox: group.connecting ?? group.anchor, next }, `the streaming budget of ${group.connecting ?? group.anchor} is full (HangingConnectionLimit): connection ${group.index} is opened as ${next}`);
              group.connecting = next;
            }
            const lost = exchangeErrorCategory(err) === 'subscription-lost';
            // once per break, not per attempt: the mailboxes' own states say the rest
            this.logger[attempt === 1 && !lost ? 'warn' : 'debug']({ event: 'stream.reconnect', group: group.index, attempt, delayMs, err }, `streaming connection ${group.index} broke; reopening in ${delayMs} ms and closing the gap`);
            if (lost) {
              // The server no longer knows the group's subscriptions (restart, no affinity).
              for (const m of [...group.members.keys()]) if (this.attached.has(m)) this.onFailure(m, err, 'GetStreamingEvents');
              return;
            }
            // Events in a cut chunk are gone: sync every mailbox of the group.
            for (const m of group.members.keys()) if (this.attached.has(m)) this.resync(m);
          },
        }),
      )
      .subscribe({
        next: (message) => this.handle(group, message, current()),
        error: (err: unknown) => {
          if (current()) group.awaitingServer = false;
          this.logger.error({ err, group: group.index }, 'streaming connection gave up');
        },
      });
    group.connection = connection;
    clearTimeout(group.lifetimeTimer);
    // Replace the connection before the server's ConnectionTimeout ends it.
    group.lifetimeTimer = setTimeout(() => this.open(group), Math.max(10_000, connectionLifetimeMs - 15_000));
    group.lifetimeTimer.unref();
  }

  private handle(group: StreamGroup, message: StreamMessage, current: boolean): void {
    if (current && message.type !== 'closed') group.open = true;
    if (current) group.awaitingServer = false;
    switch (message.type) {
      case 'notifications':
        for (const n of message.notifications) {
          const mailbox = this.bySubscription.get(n.subscriptionId);
          if (!mailbox) continue;
          for (const e of n.events) this.onEvent(mailbox, e);
        }
        return;
      case 'events-missed':
        for (const id of message.subscriptionIds) {
          const mailbox = this.bySubscription.get(id);
          if (!mailbox) continue;
          this.logger.warn({ event: 'stream.missed-events', mailbox }, `${mailbox} missed events; closing the gap`);
          this.resync(mailbox);
        }
        return;
      case 'subscription-errors':
        for (const id of message.subscriptionIds) {
          const mailbox = this.bySubscription.get(id);
          if (!mailbox) continue;
          this.bySubscription.delete(id);
          const member = group.members.get(mailbox);
          if (member) member.subscriptionId = undefined;
          this.onFailure(mailbox, message.error, 'GetStreamingEvents');
        }
        return;
      case 'closed':
        if (current) group.open = false;
        return;
      case 'open':
      case 'heartbeat':
        return;
    }
  }

  private onEvent(mailbox: string, event: NotificationEvent): void {
    this.mailboxes.events?.inc({ type: event.type });
    if (!event.itemId) return; // folder events: the item events say more
    const ids = this.folderIdsOf.get(mailbox) ?? {};
    const folders = new Set<FolderKind>();
    if (event.parentFolderId && ids[event.parentFolderId]) folders.add(ids[event.parentFolderId]);
    if (event.oldParentFolderId && ids[event.oldParentFolderId]) folders.add(ids[event.oldParentFolderId]);
    for (const f of folders) this.notify(mailbox, f);
  }
}
