import type { CrmChange, CrmChangeFeed } from '../crm-adapter/crm-port.js';
import { backoffDelay, backoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { formatUtc } from '../shared/time-zones.js';
import type { PositionStore } from '../state/position-store.js';
import { assertEnvelope, envelopeId, type ChangeEnvelope } from './envelope.js';
import type { PipelineMetrics } from './pipeline-metrics.js';
import type { OutgoingMessage, Transport } from './transport/transport.js';

const RETRY = backoffPolicy({ initialMs: 250, maxMs: 30_000 });
/** A gap in change ids younger than this may be a transaction still committing: wait for it. */
const GAP_GRACE_MS = 5_000;

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
 * CRM → log: reads the CRM's change log (through the CRM port) after the saved position,
 * in order and in batches, publishes appointment and task changes with the owning
 * associate as key, and saves the position only after the log has the batch. A
 * LISTEN/NOTIFY wake-up makes a change show in well under a second; polling every
 * `pollIntervalMs` is the fallback. The sync's own writes (origin "sync") advance the
 * position but are not sent back.
 */
export class CrmToLog {
  private readonly positionKey: string;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** A NOTIFY while a poll runs must not be lost: the next idle() returns at once. */
  private woken = false;
  private unlisten: (() => Promise<void>) | undefined;
  private loop: Promise<void> | undefined;
  published = 0;
  /** The last change id published (or skipped), for tests and /status. */
  position = 0;

  constructor(private readonly options: CrmToLogOptions) {
    this.positionKey = `crm:${options.crm.name}:change_log`;
  }

  async start(): Promise<void> {
    this.position = Number((await this.options.positions.get(this.positionKey)) ?? 0);
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
    this.notified();
    await this.loop;
    await this.unlisten?.().catch(() => undefined);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let full = false;
      try {
        full = await this.pollOnce();
        attempt = 0;
      } catch (err) {
        attempt++;
        const delay = backoffDelay(RETRY, attempt);
        this.options.logger.warn({ err, attempt, retryInMs: delay, event: 'crm.poll-failed' }, `reading the CRM change log failed; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        continue;
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

  /** One batch; true when the batch was full (more may be waiting). */
  async pollOnce(): Promise<boolean> {
    const limit = this.options.batchSize ?? 500;
    const changes = await this.options.crm.changesAfter(this.position, limit);
    const usable = this.untilGap(changes);
    if (!usable.length) return false;
    const messages: OutgoingMessage[] = [];
    const parked: OutgoingMessage[] = [];
    for (const c of usable.filter((x) => x.table === 'appointment' && x.origin !== 'sync')) {
      try {
        messages.push(this.toMessage(c));
      } catch (err) {
        // a row the envelope cannot carry: parked with why and where, so the rows after it still flow
        if (!this.options.dlqTopic) throw err;
        const e = err as { code?: string; message?: string };
        this.options.logger.error({ err, changeId: c.changeId, recordId: c.recordId, event: 'crm.unreadable' }, `CRM change ${c.changeId} cannot be sent; parked in ${this.options.dlqTopic}`);
        this.options.metrics?.unreadable.inc({ source: 'crm' });
        parked.push({
          key: c.ownerEmail ?? `associate:${c.ownerId ?? 'unknown'}`, value: JSON.stringify({ changeId: c.changeId, table: c.table, recordId: c.recordId, op: c.op, error: e.code ?? 'ERROR', message: e.message }),
          headers: { 'ecs-error-code': String(e.code ?? 'ERROR'), 'ecs-error-message': String(e.message ?? err).slice(0, 500), 'ecs-stage': 'crm-read', 'ecs-crm-change-id': String(c.changeId) },
        });
      }
    }
    for (const [topic, batch] of [[this.options.topic, messages], [this.options.dlqTopic ?? '', parked]] as const) {
      if (!batch.length) continue;
      await this.options.transport.publish(topic, batch);
      this.published += batch.length;
      this.options.metrics?.published.inc({ topic }, batch.length);
    }
    // Saved only now that the log has the batch: a crash before this line publishes it again.
    const last = usable[usable.length - 1].changeId;
    await this.options.positions.save(this.positionKey, String(last));
    this.position = last;
    return changes.length === limit && usable.length === changes.length;
  }

  /** Change ids come from a sequence, and transactions commit out of order: stop before a fresh gap. */
  private untilGap(changes: CrmChange[]): CrmChange[] {
    let expected = this.position + 1;
    for (let i = 0; i < changes.length; i++) {
      if (changes[i].changeId !== expected && Date.now() - changes[i].time < GAP_GRACE_MS) return changes.slice(0, i);
      expected = changes[i].changeId + 1;
    }
    return changes;
  }

  private toMessage(c: CrmChange): OutgoingMessage {
    const deleted = c.op === 'd' || !c.activity;
    const op = deleted ? 'd' : c.op;
    const type = c.activity?.type === 2 ? 'task' : 'appointment';
    const subject = `appointment:${c.recordId}`;
    const source = `crm:${this.options.crm.name}`;
    const envelope: ChangeEnvelope = {
      specversion: '1.0', v: 1, id: envelopeId(source, subject, String(c.changeId), op), source, type, op, time: formatUtc(c.time),
      position: { kind: 'crm-change-log', value: String(c.changeId), scope: this.options.crm.name }, subject, before: null,
      after: deleted ? null : c.activity!.fields, origin: 'crm', detectedAt: c.time,
    };
    assertEnvelope(envelope);
    const key = c.ownerEmail ?? `associate:${c.ownerId ?? 'unknown'}`;
    return { key, value: JSON.stringify(envelope), headers: { 'ecs-id': envelope.id, 'ecs-type': type, 'ecs-op': op, 'ecs-origin': 'crm' } };
  }
}
