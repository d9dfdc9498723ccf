import type { CrmChange, CrmChangeFeed } from '../crm-adapter/crm-port.js';
import { backoffPolicy } from '../shared/backoff.js';
import { retrying } from '../shared/retrier.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import { formatUtc } from '../shared/time-zones.js';
import type { PositionStore } from '../state/position-store.js';
import { deadLetterOf } from './dead-letter.js';
import { assertEnvelope, envelopeId, type ChangeEnvelope } from './envelope.js';
import type { PipelineMetrics } from './pipeline-metrics.js';
import type { OutgoingMessage, Transport } from './transport/transport.js';

const RETRY = backoffPolicy({ initialMs: 250, maxMs: 30_000 });

export interface CrmToLogOptions {
  crm: CrmChangeFeed;
  positions: PositionStore;
  transport: Transport;
  topic: string;
  /** Where a change that cannot become a valid envelope is parked (else it stops the feed until fixed). */
  dlqTopic?: string;
  logger: Logger;
  metrics?: PipelineMetrics;
  pollIntervalMs?: number;
  batchSize?: number;
}

/**
 * CRM → log: reads the CRM's changes (through its change feed) after the saved position,
 * in order and in batches, publishes them with the owning associate as key, and saves the
 * position only after the log has the batch. The feed's wake-up (NOTIFY, a webhook) makes
 * a change show in well under a second; polling every `pollIntervalMs` is the fallback.
 * The sync's own writes advance the position but are not sent back.
 */
export class CrmToLog {
  private readonly positionKey: string;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** A NOTIFY while a poll runs must not be lost: the next idle() returns at once. */
  private woken = false;
  private unlisten: (() => Promise<void>) | undefined;
  private loop: Promise<void> | undefined;
  /** Ends a wait between failed reads at once when the reader stops. */
  private readonly lifecycle = new AbortController();
  published = 0;
  /** The feed's position after the last batch published, for tests and /status. */
  position: string | undefined;

  constructor(private readonly options: CrmToLogOptions) {
    this.positionKey = `crm:${options.crm.name}:change_log`;
  }

  async start(): Promise<void> {
    this.position = await this.options.positions.get(this.positionKey);
    try {
      this.unlisten = await this.options.crm.onChange(() => this.notified());
    } catch (err) {
      this.options.logger.warn({ err }, 'change notifications are not available; polling only');
    }
    this.loop = this.run();
  }

  private notified(): void {
    this.woken = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.lifecycle.abort(new Error('stopping'));
    this.notified();
    await this.loop;
    await this.unlisten?.().catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let full = false;
      try {
        full = await retrying(() => this.pollOnce(), {
          policy: RETRY, signal: this.lifecycle.signal, shouldRetry: () => true,
          onRetry: (err, attempt, delay) => this.options.logger.warn({ err, attempt, retryInMs: delay, event: 'crm.poll-failed' }, `reading the CRM change log failed; retrying in ${delay} ms`),
        });
      } catch {
        return; // stopped while waiting to retry: the position stays where the log has everything
      }
      if (!full && !this.stopped) await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, this.options.pollIntervalMs ?? 1_000);
      this.wake = done;
    });
  }

  /** One batch; true when more may be waiting. */
  async pollOnce(): Promise<boolean> {
    const batch = await this.options.crm.read(this.position, this.options.batchSize ?? 500);
    if (batch.position === undefined || batch.position === this.position) return false;
    const messages: OutgoingMessage[] = [];
    const parked: OutgoingMessage[] = [];
    for (const c of batch.changes.filter((x) => !x.bySync)) {
      try {
        if (c.refused) throw c.refused;
        messages.push(crmChangeMessage(this.options.crm.name, c));
      } catch (err) {
        // a record the envelope cannot carry: parked with why and where, so the records after it still flow
        if (!this.options.dlqTopic) throw err;
        const e = err as { code?: string; message?: string };
        this.options.logger.error({ err, position: c.position, record: c.ref, event: 'crm.unreadable' }, `CRM change of ${c.ref} at ${c.position} cannot be sent; parked in ${this.options.dlqTopic}`);
        this.options.metrics?.unreadable.inc({ source: 'crm' });
        parked.push(deadLetterOf({
          stage: 'crm-read', error: err, key: keyOf(c), value: JSON.stringify({ position: c.position, record: c.ref, op: c.op, error: e.code ?? 'ERROR', message: e.message }),
          crm: { record: c.ref, position: c.position },
        }));
      }
    }
    for (const [topic, messagesOfTopic] of [[this.options.topic, messages], [this.options.dlqTopic ?? '', parked]] as const) {
      if (!messagesOfTopic.length) continue;
      await this.options.transport.publish(topic, messagesOfTopic);
      this.published += messagesOfTopic.length;
      this.options.metrics?.published.inc({ topic }, messagesOfTopic.length);
    }
    // Saved only now that the log has the batch: a crash before this line publishes it again.
    await this.options.positions.save(this.positionKey, batch.position);
    this.position = batch.position;
    return batch.more;
  }
}

/**
 * The owning associate's mailbox: one associate's changes stay in order on one partition. A
 * selection (several subscribers) is its own key: its changes stay in order among themselves.
 */
const keyOf = (c: CrmChange): string => (c.kind === 'selection-member' ? c.ref : (c.ownerEmail ?? c.owner ?? 'associate:unknown'));

/** The record as it is now, in the envelope's fields; undefined when it is gone. */
function afterOf(c: CrmChange): ItemFields | undefined {
  if (c.activity) return c.activity.fields;
  if (c.person) return c.person.fields;
  if (c.selection) return { selectionRef: c.selection.ref, selectionName: c.selection.name, subscribers: [...c.selection.subscribers], subject: c.selection.name, version: c.position };
  return undefined;
}

/** One CRM change as the message the log carries (its source is `crm:<feed name>`). */
export function crmChangeMessage(feedName: string, c: CrmChange): OutgoingMessage {
  const after = afterOf(c);
  const deleted = c.op === 'd' || !after;
  const op = deleted ? 'd' : c.op;
  const type = c.kind;
  const source = `crm:${feedName}`;
  const envelope: ChangeEnvelope = {
    specversion: '1.0', v: 2, id: envelopeId(source, c.ref, c.position, op), source, type, op, time: formatUtc(c.time),
    position: { kind: 'crm-change-log', value: c.position, scope: feedName }, subject: c.ref, before: null,
    after: deleted ? null : after, origin: 'crm', detectedAt: c.time,
  };
  assertEnvelope(envelope);
  return { key: keyOf(c), value: JSON.stringify(envelope), headers: { 'ecs-id': envelope.id, 'ecs-type': type, 'ecs-op': op, 'ecs-origin': 'crm' } };
}
