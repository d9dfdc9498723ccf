import { bufferTime, filter, type Subscription } from 'rxjs';
import type { FetchedItem, FolderKind, MailboxStore } from '../exchange/index.js';
import { backoffPolicy } from '../shared/backoff.js';
import { exchangeErrorCategory, toExchangeError } from '../shared/errors.js';
import { isAborted, retrying } from '../shared/retrier.js';
import type { Limiter } from '../shared/limiter.js';
import type { Logger } from '../shared/logger.js';
import type { MailboxChangeSource, MailboxSignal } from '../subscriptions/index.js';
import { deadLetterOf } from './dead-letter.js';
import { exchangeChangeMessage } from './exchange-change-message.js';
import type { PipelineMetrics } from './pipeline-metrics.js';
import type { OutgoingMessage, Transport } from './transport/transport.js';

const GET_ITEM_BATCH = 100;
const RETRY = backoffPolicy({ initialMs: 250, maxMs: 30_000 });

export interface ExchangeToLogOptions {
  source: MailboxChangeSource;
  exchange: MailboxStore;
  transport: Transport;
  topic: string;
  dlqTopic: string;
  limiter: Limiter;
  logger: Logger;
  metrics?: PipelineMetrics;
  /** Signals for the same item within this window become one fetch. */
  coalesceMs?: number;
  /**
   * Of these items, those whose version (ChangeKey) the sync holds already — its own write to
   * the mailbox coming back, or a version it applied: their notification costs no GetItem and
   * sends nothing on.
   */
  versionsHeld?: (mailbox: string, items: ReadonlyArray<{ readonly itemId: string; readonly changeKey: string }>) => Promise<ReadonlySet<string>>;
  /** Told of each mailbox's changes once the log has them (the status page's per-mailbox backlog). */
  onPublished?: (mailbox: string, count: number) => void;
}

/**
 * Exchange → log: signals → coalesced per item → batched GetItem (≤ 100 ids, bounded
 * concurrency) → normalised envelopes → published with the mailbox as key → acked back to
 * the source, which then saves the SyncState. In order per mailbox; an item deleted before
 * it could be fetched becomes a delete.
 */
export class ExchangeToLog {
  private subscription: Subscription | undefined;
  private readonly tails = new Map<string, Promise<void>>();
  /** Aborted when the wait for in-flight work is over: retries stop, their work stays unacked. */
  private readonly lifecycle = new AbortController();
  published = 0;

  constructor(private readonly options: ExchangeToLogOptions) {}

  start(): void {
    this.subscription = this.options.source.signals
      .pipe(bufferTime(this.options.coalesceMs ?? 20, null, 2_000), filter((b) => b.length > 0))
      .subscribe((batch) => this.dispatch(batch));
  }

  /**
   * Stops taking signals and waits (at most `waitMs`) for what is in flight; then what still
   * waits to retry is stopped. What is not published by then stays unacked — never parked —
   * so its position is not saved and it comes again after the restart.
   */
  async stop(waitMs = 10_000): Promise<void> {
    this.subscription?.unsubscribe();
    const inFlight = Promise.allSettled(this.tails.values());
    const timer = new Promise<void>((r) => setTimeout(r, waitMs).unref());
    await Promise.race([inFlight, timer]);
    this.lifecycle.abort(new Error('the service is stopping'));
    await Promise.allSettled(this.tails.values());
  }

  private dispatch(batch: MailboxSignal[]): void {
    const byMailbox = new Map<string, MailboxSignal[]>();
    for (const s of batch) {
      const list = byMailbox.get(s.mailbox) ?? [];
      list.push(s);
      byMailbox.set(s.mailbox, list);
    }
    for (const [mailbox, signals] of byMailbox) {
      // One promise chain per mailbox keeps its changes in order; mailboxes run in parallel.
      const tail = (this.tails.get(mailbox) ?? Promise.resolve()).then(() => this.process(mailbox, signals)).catch((err: unknown) => {
        // Unacked signals keep their positions unsaved: the changes come again after a restart.
        if (!isAborted(err)) this.options.logger.error({ err, mailbox, event: 'exchange-to-log.failed' }, `changes of ${mailbox} could not be published`);
      });
      this.tails.set(mailbox, tail);
      void tail.finally(() => {
        if (this.tails.get(mailbox) === tail) this.tails.delete(mailbox);
      });
    }
  }

  private async process(mailbox: string, signals: MailboxSignal[]): Promise<void> {
    const byFolder = new Map<FolderKind, MailboxSignal[]>();
    for (const s of signals) byFolder.set(s.folder, [...(byFolder.get(s.folder) ?? []), s]);
    const messages: OutgoingMessage[] = [];
    for (const [folder, list] of byFolder) {
      // the last signal per item wins; all of them are acked
      const latest = new Map<string, MailboxSignal>();
      for (const s of list) latest.set(s.itemId, s);
      await this.dropHeld(mailbox, folder, latest);
      const toFetch = [...latest.values()].filter((s) => s.op !== 'd').map((s) => s.itemId);
      const fetched = new Map<string, FetchedItem>();
      for (let i = 0; i < toFetch.length; i += GET_ITEM_BATCH) {
        for (const f of await this.fetch(mailbox, folder, toFetch.slice(i, i + GET_ITEM_BATCH))) fetched.set(f.itemId, f);
      }
      const now = Date.now();
      for (const s of latest.values()) {
        this.options.metrics?.fetchLatency.observe((now - s.detectedAt) / 1000);
        const f = fetched.get(s.itemId);
        if (s.op !== 'd' && !f) continue; // unreadable: dead-lettered by fetch()
        messages.push(exchangeChangeMessage({
          mailbox, folder, itemId: s.itemId, op: s.op, item: f?.item, missing: f?.missing === true, changeKey: s.changeKey, position: s.position, positionKind: s.positionKind, detectedAt: s.detectedAt, now,
        }));
      }
    }
    await this.publish(this.options.topic, messages);
    for (const s of signals) s.ack();
    for (const m of messages) {
      // one line per item is for chasing one item (debug); info says what an operator acts on
      this.options.logger.debug({ event: 'exchange.change', mailbox, type: m.headers['ecs-type'], op: m.headers['ecs-op'], id: m.headers['ecs-id'] }, `${mailbox}: ${m.headers['ecs-type']} ${m.headers['ecs-op']}`);
    }
  }

  /**
   * A notification of a version the sync holds is its own write coming back (or one it applied):
   * dropped before the GetItem. Not a resync ('r': read again on purpose, e.g. a policy change),
   * nor a series (its occurrences follow the mailbox when its own write comes back).
   */
  private async dropHeld(mailbox: string, folder: FolderKind, latest: Map<string, MailboxSignal>): Promise<void> {
    if (!this.options.versionsHeld) return;
    const candidates = [...latest.values()].filter((s) => (s.op === 'c' || s.op === 'u') && s.changeKey && s.recurring !== true && (folder !== 'calendar' || s.recurring === false));
    if (!candidates.length) return;
    const held = await this.options.versionsHeld(mailbox, candidates.map((s) => ({ itemId: s.itemId, changeKey: s.changeKey! })));
    for (const s of candidates) if (held.has(s.itemId)) latest.delete(s.itemId);
    if (held.size) this.options.metrics?.echoesDropped.inc(held.size);
  }

  /** GetItem with retries; a batch the server will not answer is read one by one, and what stays unreadable is dead-lettered. */
  private async fetch(mailbox: string, folder: FolderKind, ids: string[]): Promise<FetchedItem[]> {
    try {
      return await retrying(() => this.options.limiter.run(() => this.options.exchange.getItems(mailbox, folder, ids)), {
        policy: RETRY, signal: this.lifecycle.signal,
        shouldRetry: (err) => exchangeErrorCategory(err) === 'transient',
        onRetry: (err, attempt) => {
          if (attempt % 5 === 0) this.options.logger.warn({ err, mailbox, folder, attempt }, 'GetItem keeps failing; still retrying');
        },
      });
    } catch (err) {
      if (isAborted(err)) throw err; // stopped while waiting to retry: left unacked, never parked
      if (ids.length > 1) {
        const one: FetchedItem[] = [];
        for (const id of ids) one.push(...(await this.fetch(mailbox, folder, [id])));
        return one;
      }
      this.options.logger.error({ err, mailbox, folder, itemId: ids[0], event: 'exchange.unreadable' }, 'an Exchange item could not be read; parked in the dead-letter topic');
      this.options.metrics?.unreadable.inc({ source: 'exchange' });
      const code = toExchangeError(err).protocolCode;
      await this.publish(this.options.dlqTopic, [deadLetterOf({
        stage: 'exchange-fetch', error: err, key: mailbox, value: JSON.stringify({ mailbox, folder, itemId: ids[0], error: code, message: (err as Error).message }),
        item: { mailbox, folder, itemId: ids[0] },
      })]);
      return [];
    }
  }

  /** Publishes; while the log is away it waits and retries (the positions stay unsaved meanwhile). */
  private async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    await retrying(() => this.options.transport.publish(topic, messages), {
      policy: RETRY, signal: this.lifecycle.signal, shouldRetry: () => true,
      onRetry: (err, attempt, delayMs) => this.options.logger.warn({ err, topic, attempt, retryInMs: delayMs, event: 'log.publish-failed' }, `publishing to ${topic} failed; retrying in ${delayMs} ms`),
    });
    this.published += messages.length;
    this.options.metrics?.published.inc({ topic }, messages.length);
    if (this.options.onPublished && topic === this.options.topic) for (const m of messages) this.options.onPublished(m.key, 1);
  }
}

