import { Subject, type Subscription } from 'rxjs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FolderChangeReader, FolderKind } from '../exchange/index.js';
import { backoffDelay, backoffPolicy, type BackoffPolicy } from '../shared/backoff.js';
import { toExchangeError } from '../shared/errors.js';
import { Limiter } from '../shared/limiter.js';
import type { AdviseMode } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import type { PositionStore } from '../state/position-store.js';
import { FolderSyncer, type FolderSyncerOptions, type SyncReason } from './folder-syncer.js';
import type { MailboxChangeSource, SourceStats } from './mailbox-change-source.js';
import { watchDirectory, type MailboxDirectory } from './mailbox-directory.js';
import { MailboxRegistry } from './mailbox-registry.js';
import type { MailboxSignal } from './mailbox-signal.js';
import { SubscriptionChurn, type OutageState } from './subscription-churn.js';

export interface SourceOptions {
  /** How the source reads a folder's changes since a position (the truth behind every signal). */
  changes: FolderChangeReader;
  positions: PositionStore;
  directory: MailboxDirectory;
  logger: Logger;
  metrics?: Registry;
  /** The registry of mailbox states, when several sources share one (a hybrid organisation). */
  mailboxRegistry?: MailboxRegistry;
  /** Told when Exchange refuses a mailbox (gone, moving, denied): a hybrid organisation looks for it in Exchange Online. */
  onUnavailable?: (mailbox: string) => void;
  folders: readonly FolderKind[];
  windowPastDays: number;
  windowFutureDays: number;
  refreshMs: number;
  /** Exchange requests in flight at once (subscribing, reading changes, folder lookups). */
  concurrency: number;
  retryPolicy: BackoffPolicy;
  /** Wait before retrying a mailbox that failed for good (denied, missing). */
  failedRetryMs: number;
  coalesceMs: number;
  /** The sync's own record of a folder's items, for the deletes a full resync cannot list. */
  knownItems?: FolderSyncerOptions['knownItems'];
  snapshotDeletes?: FolderSyncerOptions['snapshotDeletes'];
  /** A subscription that lives this long after it was made is healthy again (default 60 s). */
  subscriptionStableMs?: number;
  /** Waits between probes while Exchange keeps losing every subscription (default 15 s growing to 5 min). */
  outageProbePolicy?: BackoffPolicy;
  now?: () => number;
}

interface Attempt {
  count: number;
  timer?: NodeJS.Timeout;
}

/**
 * What every mode shares: the mailbox directory and its reconciliation, the folder syncer,
 * positions, states, and what to do when a mailbox fails. A mode adds how it subscribes
 * and how it learns that a folder changed.
 */
export abstract class SourceBase implements MailboxChangeSource {
  abstract readonly mode: AdviseMode;
  readonly mailboxes: MailboxRegistry;
  protected readonly signalSubject = new Subject<MailboxSignal>();
  readonly signals = this.signalSubject.asObservable();
  protected readonly syncer: FolderSyncer;
  protected readonly limiter: Limiter;
  protected readonly logger: Logger;
  protected readonly attached = new Set<string>();
  protected readonly paused = new Set<string>();
  protected stopping = false;
  private readonly attempts = new Map<string, Attempt>();
  private directorySubscription: Subscription | undefined;
  private readonly pendingSyncs = new Map<string, Set<FolderKind>>();
  private readonly churn: SubscriptionChurn;

  constructor(protected readonly options: SourceOptions) {
    this.logger = options.logger;
    this.mailboxes = options.mailboxRegistry ?? new MailboxRegistry(options.metrics, options.now);
    const stableMs = options.subscriptionStableMs ?? 60_000;
    this.churn = new SubscriptionChurn({
      stableMs, policy: options.retryPolicy, outageMailboxes: 3, now: options.now ?? Date.now,
      probePolicy: options.outageProbePolicy ?? backoffPolicy({ initialMs: 15_000, maxMs: 5 * 60_000, jitter: 'equal' }),
      reattach: (mailbox, delayMs) => this.scheduleReattach(mailbox, delayMs),
      onOutage: (change) => {
        if (change.open) {
          this.logger.warn({ event: 'exchange.losing-subscriptions', mailboxes: change.mailboxes, probe: change.probe },
            `Exchange keeps losing the sync's subscriptions (${change.mailboxes} mailboxes lost theirs again within ${stableMs / 1000} s of subscribing): every mailbox now waits while ${change.probe} alone is subscribed again, at growing intervals up to 5 minutes, until its subscription holds for ${stableMs / 1000} s`);
        } else {
          this.logger.info({ event: 'exchange.keeping-subscriptions', probe: change.probe, waiting: change.waiting, probes: change.probes, durationMs: change.durationMs },
            `Exchange keeps subscriptions again (${change.probe} held for ${stableMs / 1000} s after ${change.probes} tries in ${Math.round(change.durationMs / 1000)} s): subscribing the ${change.waiting} waiting mailboxes and closing their gaps`);
        }
      },
    });
    // a hybrid organisation's second source shares the first's registry and counters (its outage gauge is the first's)
    if (options.metrics && !options.metrics.getSingleMetric('ecs_exchange_losing_subscriptions')) {
      const outage: Gauge = new Gauge({ name: 'ecs_exchange_losing_subscriptions', help: '1 while Exchange keeps losing the sync\'s subscriptions and the mailboxes wait for one probe to hold', registers: [options.metrics], collect: () => outage.set(this.churn.state() ? 1 : 0) });
    }
    this.limiter = new Limiter(options.concurrency);
    const snapshotDeletes = options.metrics && options.knownItems
      ? (options.metrics.getSingleMetric('ecs_snapshot_deletes_total') as Counter<'folder' | 'applied'> | undefined) ?? new Counter({ name: 'ecs_snapshot_deletes_total', help: 'Mapped items a full resync no longer listed (deleted while no SyncState could tell), by folder and whether their deletes were sent on', labelNames: ['folder', 'applied'], registers: [options.metrics] })
      : undefined;
    this.syncer = new FolderSyncer({
      changes: options.changes, positions: options.positions, limiter: this.limiter, logger: options.logger,
      emit: (signal) => this.signalSubject.next(signal),
      windowPastDays: options.windowPastDays, windowFutureDays: options.windowFutureDays, coalesceMs: options.coalesceMs, retryPolicy: options.retryPolicy,
      onFailure: (mailbox, folder, err) => this.onFailure(mailbox, err, `${options.changes.operation} ${folder}`),
      onSynced: (mailbox, folder, reason, changes) => this.onSynced(mailbox, folder, reason, changes),
      knownItems: options.knownItems, snapshotDeletes: options.snapshotDeletes,
      onSnapshotDeletes: (_mailbox, folder, count, applied) => snapshotDeletes?.inc({ folder, applied: String(applied) }, count),
      now: options.now,
    });
  }

  /** Subscribes one mailbox (the mode's way); throws an ExchangeError. */
  protected abstract subscribeMailbox(mailbox: string): Promise<void>;
  /** Unsubscribes one mailbox, best effort. */
  protected abstract unsubscribeMailbox(mailbox: string): Promise<void>;
  protected abstract connectionCount(): number;
  protected abstract stopMode(): Promise<void>;

  start(): void {
    this.directorySubscription = watchDirectory(this.options.directory, this.options.refreshMs, this.logger).subscribe((list) => this.reconcile(list));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.directorySubscription?.unsubscribe();
    for (const a of this.attempts.values()) clearTimeout(a.timer);
    this.churn.stop();
    await this.stopMode();
    await this.syncer.stop();
    this.signalSubject.complete();
  }

  resync(mailbox?: string): void {
    this.readAgain(mailbox, 'recovery');
  }

  snapshot(mailbox?: string): number {
    return this.readAgain(mailbox, 'snapshot');
  }

  /** Every folder of one mailbox, or of all it holds, read again for this reason; how many mailboxes. */
  private readAgain(mailbox: string | undefined, reason: 'recovery' | 'snapshot'): number {
    const held = (mailbox ? [mailbox] : [...this.attached]).filter((m) => this.attached.has(m));
    for (const m of held) for (const f of this.options.folders) this.syncer.request(m, f, reason);
    return held.length;
  }

  pause(mailbox: string): void {
    this.paused.add(mailbox);
    this.mailboxes.set(mailbox, 'paused', 'paused by the operator');
    void this.detach(mailbox, false);
  }

  resume(mailbox: string): void {
    if (!this.paused.delete(mailbox)) return;
    void this.attach(mailbox);
  }

  stats(): SourceStats {
    let initial = 0;
    for (const s of this.mailboxes.all()) if (s.initialSyncDone) initial++;
    return {
      mailboxes: this.mailboxes.size, connections: this.connectionCount(), syncRuns: this.syncer.runs,
      outstandingSignals: this.syncer.outstanding(), initialSyncDone: initial,
      ...(this.churn.state() ? { losingSubscriptions: this.churn.state() } : {}),
    };
  }

  /** Whether the source has the mailbox now (subscribed, subscribing or failed), not let go of it. */
  holds(mailbox: string): boolean {
    return this.attached.has(mailbox);
  }

  /** While Exchange keeps losing every subscription: since when, the probe, the mailboxes waiting. */
  outage(): OutageState | undefined {
    return this.churn.state();
  }

  /** Adds and removes mailboxes so the subscribed set matches the directory. */
  private reconcile(desired: readonly string[]): void {
    if (this.stopping) return;
    const wanted = new Set(desired);
    const removed = [...this.attached].filter((m) => !wanted.has(m));
    const added = desired.filter((m) => !this.attached.has(m) && !this.paused.has(m));
    if (added.length || removed.length) this.logger.info({ event: 'mailboxes.changed', added: added.length, removed: removed.length, total: desired.length }, 'mailbox list changed');
    for (const m of removed) void this.detach(m, true);
    this.beforeAttachMany(added);
    for (const m of added) void this.attach(m);
  }

  /** A hook for the streaming mode to place new mailboxes into groups in one go. */
  protected beforeAttachMany(_mailboxes: readonly string[]): void {}

  protected async attach(mailbox: string): Promise<void> {
    if (this.stopping) return;
    this.attached.add(mailbox);
    this.mailboxes.set(mailbox, 'subscribing');
    try {
      await this.subscribeMailbox(mailbox);
      if (this.stopping || !this.attached.has(mailbox)) return;
      this.churn.subscribed(mailbox);
      this.mailboxes.set(mailbox, 'syncing');
      this.requestSyncs(mailbox, 'recovery');
    } catch (err) {
      this.onFailure(mailbox, err, 'Subscribe');
    }
  }

  private async detach(mailbox: string, forget: boolean): Promise<void> {
    this.attached.delete(mailbox);
    clearTimeout(this.attempts.get(mailbox)?.timer);
    this.attempts.delete(mailbox);
    this.churn.forget(mailbox);
    for (const f of this.options.folders) this.syncer.forget(mailbox, f);
    if (forget) this.mailboxes.remove(mailbox);
    try {
      await this.unsubscribeMailbox(mailbox);
    } catch (err) {
      this.logger.debug({ err, mailbox }, 'unsubscribe failed (the subscription will expire by itself)');
    }
  }

  /** Requests a sync of every folder; the mailbox is active once all report back. */
  protected requestSyncs(mailbox: string, reason: SyncReason): void {
    this.pendingSyncs.set(mailbox, new Set(this.options.folders));
    for (const f of this.options.folders) this.syncer.request(mailbox, f, reason);
  }

  /** A notification: sync that folder. */
  protected notify(mailbox: string, folder: FolderKind): void {
    if (!this.attached.has(mailbox) || this.paused.has(mailbox)) return;
    this.mailboxes.touch(mailbox, { lastEventAt: Date.now() });
    this.syncer.request(mailbox, folder, 'notification');
  }

  private onSynced(mailbox: string, folder: FolderKind, reason: SyncReason, changes: number): void {
    if (!this.attached.has(mailbox)) return;
    this.attempts.delete(mailbox);
    this.mailboxes.touch(mailbox, { lastSyncAt: Date.now() });
    const pending = this.pendingSyncs.get(mailbox);
    if (pending) {
      pending.delete(folder);
      if (pending.size === 0) {
        this.pendingSyncs.delete(mailbox);
        this.mailboxes.touch(mailbox, { initialSyncDone: true });
        this.mailboxes.set(mailbox, 'active');
      }
    } else if (this.mailboxes.get(mailbox)?.state !== 'active') {
      this.mailboxes.set(mailbox, 'active');
    }
    if (reason !== 'notification') this.logger.debug({ event: 'sync.done', mailbox, folder, reason, changes }, 'folder synced');
  }

  /**
   * A mailbox's subscription, sync or poll failed: park it when it cannot work (denied,
   * missing) and retry rarely; re-create a lost subscription at once; back off on the rest.
   * One mailbox's trouble never stops the others.
   */
  protected onFailure(mailbox: string, err: unknown, during: string): void {
    if (this.stopping || !this.attached.has(mailbox)) return;
    const error = toExchangeError(err);
    const { category, protocolCode: code } = error;
    const attempt = this.attempts.get(mailbox) ?? { count: 0 };
    this.attempts.set(mailbox, attempt);
    clearTimeout(attempt.timer);
    attempt.count++;
    let delay: number;
    if (category === 'mailbox-unavailable' || category === 'permanent' || category === 'not-found') {
      delay = this.options.failedRetryMs;
      this.mailboxes.set(mailbox, 'failed', `${code}: ${error.message}`);
      this.logger.warn({ event: 'mailbox.failed', mailbox, code: code, during, retryInMs: delay }, `${mailbox} failed: ${error.message} (${code}); trying again in ${Math.round(delay / 1000)} s`);
      if (category === 'mailbox-unavailable') this.options.onUnavailable?.(mailbox);
    } else if (category === 'subscription-lost') {
      this.dropSubscription(mailbox);
      const wait = this.churn.lost(mailbox, this.attached.size);
      const outage = this.churn.state();
      const quiet = this.churn.isRepeat(mailbox);
      if (wait === undefined) {
        this.mailboxes.set(mailbox, 'backing-off', `Exchange keeps losing subscriptions (${code} during ${during}); waiting until ${outage?.probe}'s holds`);
        this.logger.debug({ event: 'subscription.lost', mailbox, code: code, during, waiting: true }, `subscription of ${mailbox} lost (${code}); waiting for Exchange to keep subscriptions`);
        return;
      }
      delay = wait;
      this.mailboxes.set(mailbox, 'subscribing', `${code} during ${during}${quiet ? '; lost again soon after subscribing' : ''}`);
      this.logger[quiet || outage ? 'debug' : 'info']({ event: 'subscription.lost', mailbox, code: code, during, retryInMs: delay },
        `subscription of ${mailbox} lost (${code}); subscribing again${delay ? ` in ${delay} ms` : ''}`);
    } else {
      delay = backoffDelay(this.options.retryPolicy, attempt.count, error.retryAfterMs);
      this.mailboxes.set(mailbox, 'backing-off', `${code}: ${error.message}`);
      this.logger.warn({ event: 'mailbox.backing-off', mailbox, code: code, during, retryInMs: delay }, `${mailbox}: ${error.message} (${code}, during ${during}); retrying in ${delay} ms`);
    }
    this.scheduleReattach(mailbox, delay);
  }

  private scheduleReattach(mailbox: string, delay: number): void {
    if (this.stopping || !this.attached.has(mailbox)) return;
    const attempt = this.attempts.get(mailbox) ?? { count: 0 };
    this.attempts.set(mailbox, attempt);
    clearTimeout(attempt.timer);
    attempt.timer = setTimeout(() => {
      if (this.stopping || !this.attached.has(mailbox)) return;
      void this.reattach(mailbox);
    }, delay);
  }

  /** The server no longer knows this mailbox's subscription: forget its id, so nothing asks to end it. */
  protected dropSubscription(_mailbox: string): void {}

  /** Subscribes again and closes the gap. */
  protected async reattach(mailbox: string): Promise<void> {
    try {
      await this.unsubscribeMailbox(mailbox);
    } catch {
      // the old subscription is gone or will expire
    }
    await this.attach(mailbox);
  }

}
