import { defer, from, groupBy, mergeMap, Subject, type Subscription } from 'rxjs';
import type { FolderChange, FolderChangeReader, FolderKind } from '../exchange/index.js';
import type { BackoffPolicy } from '../shared/backoff.js';
import { isAborted, retrying } from '../shared/retrier.js';
import { exchangeErrorCategory, toExchangeError, type ExchangeError } from '../shared/errors.js';
import type { Limiter } from '../shared/limiter.js';
import type { Logger } from '../shared/logger.js';
import type { PositionStore } from '../state/position-store.js';
import type { MailboxSignal, SignalOp } from './mailbox-signal.js';
import { coalesceWhileBusy } from './operators/coalesce-while-busy.js';
import { once, PositionTracker } from './position-tracker.js';

/**
 * Why a folder is synced: a notification (c/u/d), closing a gap (r), the first time (r,
 * windowed), or anew from scratch (r, windowed: every item read again, as the first time, with
 * the deletes a snapshot implies — an operator's `resync`, a changed sync policy).
 */
export type SyncReason = 'notification' | 'recovery' | 'initial' | 'snapshot';

interface SyncRequest {
  mailbox: string;
  folder: FolderKind;
  reason: SyncReason;
}

const STRENGTH: Record<SyncReason, number> = { notification: 0, recovery: 1, initial: 2, snapshot: 3 };
const MAX_CHANGES = 512;
/** The batch of an inherited unconfirmed item not checked yet: no acked position removes it. */
const UNCHECKED = Number.POSITIVE_INFINITY;
const SYNC_RETRIES = 4;
/** How far the database's clock (a mapping's time) may be from ours without a fresh mapping taken for an old one. */
const CLOCK_MARGIN_MS = 60_000;

export const positionKey = (mailbox: string, folder: FolderKind): string => `exchange:${mailbox}:${folder}`;

interface FolderState {
  /** The SyncState up to which signals were emitted (ahead of the saved one until acks arrive). */
  syncState: string | null | undefined;
  tracker: PositionTracker;
  /**
   * Items created after the saved SyncState that were sent on but are not yet covered by a
   * saved position, by batch number. A replay from the saved state would not mention such
   * an item if it was deleted meanwhile (created and deleted after the state), so they are
   * written down before they are sent, and checked again after a restart.
   */
  unconfirmed: Map<string, number>;
  /** Unconfirmed items left by the previous run of the process, checked after the first sync. */
  inherited: Set<string> | undefined;
  /** Writes of `unconfirmed` happen one after the other, each with the set as it is then. */
  unconfirmedWrites: Promise<void>;
}

export const unconfirmedKey = (mailbox: string, folder: FolderKind): string => `unconfirmed:${mailbox}:${folder}`;

export interface FolderSyncerOptions {
  /** The source's way to read a folder's changes since a position (SyncFolderItems, a delta query). */
  changes: FolderChangeReader;
  positions: PositionStore;
  limiter: Limiter;
  logger: Logger;
  emit: (signal: MailboxSignal) => void;
  windowPastDays: number;
  windowFutureDays: number;
  /** Wait this long after a notification before syncing (one user action fires several events). */
  coalesceMs: number;
  retryPolicy: BackoffPolicy;
  /** A sync failed for good (after retries): the source decides the mailbox's fate. */
  onFailure: (mailbox: string, folder: FolderKind, err: ExchangeError) => void;
  onSynced: (mailbox: string, folder: FolderKind, reason: SyncReason, changes: number) => void;
  /**
   * The items the sync believes a folder holds (mapped before `before`, ms): after a full
   * resync, those the snapshot did not list were deleted while no SyncState could say so.
   */
  knownItems?: (mailbox: string, folder: FolderKind, before: number) => Promise<string[]>;
  /** What is done with them: sent on as deletes ('apply'), or only logged and counted ('report'). */
  snapshotDeletes?: 'apply' | 'report';
  onSnapshotDeletes?: (mailbox: string, folder: FolderKind, count: number, applied: boolean) => void;
  now?: () => number;
}

/**
 * Notifications are triggers, the change reader is the truth: every request for a mailbox
 * folder becomes one read (EWS SyncFolderItems, a Graph delta round) from the folder's current
 * position (coalesced while one runs), whose changes are emitted as signals; the resulting
 * position is saved once all of them are acknowledged.
 */
export class FolderSyncer {
  private readonly requests = new Subject<SyncRequest>();
  private readonly folders = new Map<string, FolderState>();
  private readonly subscription: Subscription;
  private readonly options: FolderSyncerOptions;
  private readonly now: () => number;
  private stopped = false;
  private readonly lifecycle = new AbortController();
  runs = 0;

  constructor(options: FolderSyncerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.subscription = this.requests
      .pipe(
        groupBy((r) => positionKey(r.mailbox, r.folder)),
        mergeMap((group$) =>
          group$.pipe(
            coalesceWhileBusy(
              (r) => defer(() => from(this.run(r))),
              (a, b) => (STRENGTH[b.reason] > STRENGTH[a.reason] ? b : a),
              options.coalesceMs,
            ),
          ),
        ),
      )
      .subscribe();
  }

  request(mailbox: string, folder: FolderKind, reason: SyncReason): void {
    if (!this.stopped) this.requests.next({ mailbox, folder, reason });
  }

  /** Forgets in-memory state (a removed mailbox); saved positions stay. */
  forget(mailbox: string, folder: FolderKind): void {
    this.folders.delete(positionKey(mailbox, folder));
  }

  /** Signals emitted but not acknowledged yet. */
  outstanding(): number {
    let n = 0;
    for (const f of this.folders.values()) n += f.tracker.outstanding;
    return n;
  }

  /** Stops taking requests and waits for position saves in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lifecycle.abort(new Error('stopping'));
    this.subscription.unsubscribe();
    await Promise.all([...this.folders.values()].map((f) => f.tracker.drained()));
  }

  private state(mailbox: string, folder: FolderKind): FolderState {
    const key = positionKey(mailbox, folder);
    let state = this.folders.get(key);
    if (!state) {
      const created: FolderState = { syncState: undefined, tracker: undefined as unknown as PositionTracker, unconfirmed: new Map(), inherited: undefined, unconfirmedWrites: Promise.resolve() };
      created.tracker = new PositionTracker(
        async (position, upTo) => {
          await this.options.positions.save(key, position);
          let changed = false;
          for (const [id, batch] of created.unconfirmed) {
            if (batch <= upTo) {
              created.unconfirmed.delete(id);
              changed = true;
            }
          }
          if (changed) await this.saveUnconfirmed(mailbox, folder, created);
        },
        (err) => this.options.logger.error({ err, mailbox, folder, event: 'position.save-failed' }, 'saving a position failed; it will be saved with the next batch'),
      );
      state = created;
      this.folders.set(key, state);
    }
    return state;
  }

  private async run(request: SyncRequest): Promise<void> {
    if (this.stopped) return;
    const { mailbox, folder } = request;
    const state = this.state(mailbox, folder);
    this.runs++;
    try {
      if (state.syncState === undefined) {
        state.syncState = (await this.options.positions.get(positionKey(mailbox, folder))) ?? null;
        const left = await this.options.positions.get(unconfirmedKey(mailbox, folder));
        state.inherited = left ? new Set(JSON.parse(left) as string[]) : undefined;
        // They stay on the saved list until checked: this run rewrites it with its own creates,
        // and a stop before the check must not lose them (no batch covers them yet).
        for (const id of state.inherited ?? []) state.unconfirmed.set(id, UNCHECKED);
      }
      // a snapshot reads from no position; the saved one stays until the snapshot's is saved
      if (request.reason === 'snapshot') state.syncState = null;
      let reason: SyncReason = state.syncState === null ? 'initial' : request.reason;
      let total = 0;
      let snapshotStarted = this.now();
      const reported = new Set<string>();
      for (;;) {
        const detectedAt = this.now();
        let page;
        try {
          page = await this.withRetries(() => this.options.changes.readChanges(mailbox, folder, state.syncState ?? null, MAX_CHANGES));
        } catch (err) {
          if (exchangeErrorCategory(err) === 'position-invalid' && state.syncState !== null) {
            this.options.logger.warn({ mailbox, folder, event: 'sync.state-invalid' }, `the saved position (${this.options.changes.positionKind}) is no longer valid: full resync`);
            state.syncState = null;
            reason = 'initial';
            snapshotStarted = this.now();
            continue;
          }
          throw err;
        }
        const changes = reason === 'initial' ? page.changes.filter((c) => this.inWindow(c)) : page.changes;
        for (const c of page.changes) reported.add(c.itemId);
        const created = changes.filter((c) => c.type === 'Create');
        if (created.length) {
          // written down before anything is sent on (see FolderState.unconfirmed)
          const batch = state.tracker.upcomingBatch;
          for (const c of created) state.unconfirmed.set(c.itemId, batch);
          await this.saveUnconfirmed(mailbox, folder, state);
        }
        const ack = state.tracker.addBatch(page.position, changes.length);
        state.syncState = page.position;
        for (const change of changes) {
          this.options.emit({
            mailbox, folder, op: opOf(change, reason), itemId: change.itemId, changeKey: change.changeKey, ...(change.recurring !== undefined ? { recurring: change.recurring } : {}), detectedAt, position: page.position, positionKind: this.options.changes.positionKind, ack: once(ack),
          });
        }
        total += changes.length;
        if (page.complete || this.stopped) break;
      }
      if (reason === 'initial' && !this.stopped) await this.vanished(mailbox, folder, state, reported, snapshotStarted);
      if (state.inherited) {
        // Items the previous run sent on without a saved position to cover them, which the
        // replay did not mention: they may have been deleted since. Fetching them tells.
        const orphans = [...state.inherited].filter((id) => !reported.has(id));
        // Those the replay mentioned are covered by its batches; the orphans by their own.
        const replayed = state.tracker.upcomingBatch - 1;
        for (const id of state.inherited) if (reported.has(id) && state.unconfirmed.get(id) === UNCHECKED) state.unconfirmed.set(id, replayed);
        state.inherited = undefined;
        if (orphans.length) {
          const batch = state.tracker.upcomingBatch;
          for (const id of orphans) state.unconfirmed.set(id, batch);
          await this.saveUnconfirmed(mailbox, folder, state);
          const ack = state.tracker.addBatch(state.syncState!, orphans.length);
          const detectedAt = this.now();
          for (const itemId of orphans) this.options.emit({ mailbox, folder, op: 'r', itemId, detectedAt, position: state.syncState!, positionKind: this.options.changes.positionKind, ack: once(ack) });
          this.options.logger.info({ event: 'sync.unconfirmed-checked', mailbox, folder, items: orphans.length }, 'items sent before an unclean stop are checked again');
        }
      }
      this.options.onSynced(mailbox, folder, reason, total);
    } catch (err) {
      if (isAborted(err)) return; // stopped while waiting to retry: the position stays where it was
      this.options.onFailure(mailbox, folder, toExchangeError(err));
    }
  }

  /**
   * A full resync lists only what exists: an item mapped before it began that it did not list
   * was deleted while no position could tell (an invalid SyncState, a lost delta token, a moved
   * mailbox, a restarted server). Its delete is sent on like any other, at the snapshot's
   * position. An item mapped just before or during the snapshot (the mapping's time is the
   * database's clock, a minute either way) may simply be newer than the listing: it is sent
   * on as a resync ('r'), and reading it tells — gone, it is deleted; there, nothing changes.
   */
  private async vanished(mailbox: string, folder: FolderKind, state: FolderState, listed: ReadonlySet<string>, started: number): Promise<void> {
    if (!this.options.knownItems) return;
    const gone = (await this.options.knownItems(mailbox, folder, started - CLOCK_MARGIN_MS)).filter((id) => !listed.has(id));
    const goneSet = new Set(gone);
    const recent = (await this.options.knownItems(mailbox, folder, this.now() + CLOCK_MARGIN_MS)).filter((id) => !listed.has(id) && !goneSet.has(id));
    if (recent.length) {
      const ack = state.tracker.addBatch(state.syncState!, recent.length);
      const detectedAt = this.now();
      for (const itemId of recent) this.options.emit({ mailbox, folder, op: 'r', itemId, detectedAt, position: state.syncState!, positionKind: this.options.changes.positionKind, ack: once(ack) });
    }
    if (!gone.length) return;
    const apply = (this.options.snapshotDeletes ?? 'apply') === 'apply';
    this.options.onSnapshotDeletes?.(mailbox, folder, gone.length, apply);
    this.options.logger.warn({ event: 'sync.snapshot-deletes', mailbox, folder, items: gone.length, applied: apply },
      apply ? `${gone.length} items of ${mailbox} ${folder} were deleted while no position could tell: their deletes are sent on`
        : `${gone.length} items of ${mailbox} ${folder} were deleted while no position could tell; sync@snapshotDeletes="report" keeps their CRM records`);
    if (!apply) return;
    const ack = state.tracker.addBatch(state.syncState!, gone.length);
    const detectedAt = this.now();
    for (const itemId of gone) this.options.emit({ mailbox, folder, op: 'd', itemId, detectedAt, position: state.syncState!, positionKind: this.options.changes.positionKind, ack: once(ack) });
  }

  private saveUnconfirmed(mailbox: string, folder: FolderKind, state: FolderState): Promise<void> {
    const key = unconfirmedKey(mailbox, folder);
    const write = state.unconfirmedWrites.then(() =>
      state.unconfirmed.size ? this.options.positions.save(key, JSON.stringify([...state.unconfirmed.keys()])) : this.options.positions.delete(key),
    );
    state.unconfirmedWrites = write.catch(() => undefined);
    return write;
  }

  /** A few quick retries of a transient failure; then the mailbox's own recovery takes over. Ended by stop(). */
  private withRetries<T>(call: () => Promise<T>): Promise<T> {
    return retrying(() => this.options.limiter.run(call), {
      policy: { ...this.options.retryPolicy, maxRetries: SYNC_RETRIES }, signal: this.lifecycle.signal,
      shouldRetry: (err) => exchangeErrorCategory(err) === 'transient',
    });
  }

  private inWindow(change: FolderChange): boolean {
    if (change.type === 'Delete' || change.recurring || (!change.start && !change.end)) return true;
    const now = this.now();
    const from = now - this.options.windowPastDays * 86_400_000;
    const to = now + this.options.windowFutureDays * 86_400_000;
    const start = change.start ? Date.parse(change.start) : Date.parse(change.end!);
    const end = change.end ? Date.parse(change.end) : start;
    return end >= from && start <= to;
  }
}

function opOf(change: FolderChange, reason: SyncReason): SignalOp {
  if (change.type === 'Delete') return 'd';
  if (reason !== 'notification') return 'r';
  return change.type === 'Create' ? 'c' : 'u';
}
