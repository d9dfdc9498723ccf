import { backoffDelay, backoffPolicy } from '../shared/backoff.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import { assertIdentifier, type Database } from '../state/database.js';
import type { PositionStore } from '../state/position-store.js';
import { assertEnvelope, envelopeId, type ChangeEnvelope } from './envelope.js';
import type { PipelineMetrics } from './pipeline-metrics.js';
import type { OutgoingMessage, Transport } from './transport/transport.js';

const RETRY = backoffPolicy({ initialMs: 250, maxMs: 30_000 });
/** A gap in change ids younger than this may be a transaction still committing: wait for it. */
const GAP_GRACE_MS = 5_000;

export interface CrmToLogOptions {
  db: Database;
  schema: string;
  positions: PositionStore;
  transport: Transport;
  topic: string;
  logger: Logger;
  metrics?: PipelineMetrics;
  pollIntervalMs?: number;
  batchSize?: number;
}

interface LogRow {
  change_id: string;
  ttime: Date;
  table_name: string;
  record_id: number;
  owner_id: number | null;
  op: 'c' | 'u' | 'd';
  origin: string;
  associate_email: string | null;
  type: number | null;
  title: string | null;
  description: string | null;
  location: string | null;
  start_at: Date | null;
  end_at: Date | null;
  time_zone: string | null;
  all_day: boolean | null;
  private: boolean | null;
  done: boolean | null;
  recurrence_rule: string | null;
  mother_id: number | null;
  contact_id: number | null;
  person_id: number | null;
  updated: Date | null;
  updated_count: number | null;
  row_exists: boolean;
}

const utc = (d: Date | null): string | undefined => (d ? new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined);

/**
 * CRM → log: reads the CRM's change log after the saved position, in order and in batches,
 * publishes appointment and task changes with the owning associate as key, and saves the
 * position only after the log has the batch. A LISTEN/NOTIFY wake-up makes a change show
 * in well under a second; polling every `pollIntervalMs` is the fallback. The sync's own
 * writes (origin "sync") advance the position but are not sent back.
 */
export class CrmToLog {
  private readonly s: string;
  private readonly positionKey: string;
  private stopped = false;
  private wake: (() => void) | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private loop: Promise<void> | undefined;
  published = 0;
  /** The last change id published (or skipped), for tests and /status. */
  position = 0;

  constructor(private readonly options: CrmToLogOptions) {
    this.s = assertIdentifier(options.schema);
    this.positionKey = `crm:${options.schema}:change_log`;
  }

  async start(): Promise<void> {
    this.position = Number((await this.options.positions.get(this.positionKey)) ?? 0);
    try {
      this.unlisten = await this.options.db.listen(`${this.s}_changes`, () => this.notified());
    } catch (err) {
      this.options.logger.warn({ err }, 'LISTEN is not available; polling only');
    }
    this.loop = this.run();
  }

  /** A NOTIFY while a poll runs must not be lost: the next idle() returns at once. */
  private woken = false;

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
    const { rows } = await this.options.db.query<LogRow>(
      `select l.change_id, l.ttime, l.table_name, l.record_id, l.owner_id, l.op, l.origin,
              s.email as associate_email, a.type, a.title, a.description, a.location, a.start_at, a.end_at, a.time_zone, a.all_day,
              a.private, a.done, a.recurrence_rule, a.mother_id, a.contact_id, a.person_id, a.updated, a.updated_count,
              (a.appointment_id is not null) as row_exists
         from ${this.s}.change_log l
         left join ${this.s}.appointment a on l.table_name = 'appointment' and a.appointment_id = l.record_id
         left join ${this.s}.associate s on s.associate_id = coalesce(a.associate_id, l.owner_id)
        where l.change_id > $1 order by l.change_id limit ${limit}`,
      [this.position],
    );
    const usable = this.untilGap(rows);
    if (!usable.length) return false;
    const messages: OutgoingMessage[] = [];
    for (const r of usable) {
      if (r.table_name !== 'appointment' || r.origin === 'sync') continue;
      messages.push(this.toMessage(r));
    }
    if (messages.length) {
      await this.options.transport.publish(this.options.topic, messages);
      this.published += messages.length;
      this.options.metrics?.published.inc({ topic: this.options.topic }, messages.length);
    }
    const last = usable[usable.length - 1].change_id;
    // Saved only now that the log has the batch: a crash before this line publishes it again.
    await this.options.positions.save(this.positionKey, String(last));
    this.position = Number(last);
    return rows.length === limit && usable.length === rows.length;
  }

  /** Change ids come from a sequence, and transactions commit out of order: stop before a fresh gap. */
  private untilGap(rows: LogRow[]): LogRow[] {
    let expected = this.position + 1;
    for (let i = 0; i < rows.length; i++) {
      const id = Number(rows[i].change_id);
      if (id !== expected && Date.now() - new Date(rows[i].ttime).getTime() < GAP_GRACE_MS) return rows.slice(0, i);
      expected = id + 1;
    }
    return rows;
  }

  private toMessage(r: LogRow): OutgoingMessage {
    const deleted = r.op === 'd' || !r.row_exists;
    const op = deleted ? 'd' : r.op;
    const type = r.type === 2 ? 'task' : 'appointment';
    const after: ItemFields | null = deleted
      ? null
      : {
          subject: r.title ?? '', body: r.description ?? undefined, location: r.location ?? undefined,
          ...(type === 'task' ? { due: utc(r.end_at) ?? utc(r.start_at), start: utc(r.start_at), done: r.done ?? false } : { start: utc(r.start_at), end: utc(r.end_at) }),
          timeZone: r.time_zone ?? undefined, allDay: r.all_day ?? false, private: r.private ?? false,
          recurrence: r.recurrence_rule ? parseRuleColumn(r.recurrence_rule) : null,
          associateId: r.owner_id ?? undefined, associateEmail: r.associate_email ?? undefined,
          contactId: r.contact_id, personId: r.person_id, motherId: r.mother_id, modified: utc(r.updated), version: String(r.updated_count ?? 0),
          crmId: `appointment:${r.record_id}`,
        };
    if (after) for (const k of Object.keys(after) as Array<keyof ItemFields>) if (after[k] === undefined) delete after[k];
    const subject = `appointment:${r.record_id}`;
    const source = `crm:${this.options.schema}`;
    const detectedAt = new Date(r.ttime).getTime();
    const envelope: ChangeEnvelope = {
      specversion: '1.0', v: 1, id: envelopeId(source, subject, r.change_id, op), source, type, op, time: utc(r.ttime)!,
      position: { kind: 'crm-change-log', value: r.change_id, scope: this.options.schema }, subject, before: null, after, origin: 'crm', detectedAt,
    };
    assertEnvelope(envelope);
    const key = r.associate_email ?? `associate:${r.owner_id ?? 'unknown'}`;
    return { key, value: JSON.stringify(envelope), headers: { 'ecs-id': envelope.id, 'ecs-type': type, 'ecs-op': op, 'ecs-origin': 'crm' } };
  }
}

/** recurrence_rule holds "RRULE:…" and optional "EXDATE:…" lines. */
function parseRuleColumn(text: string): { rrule: string; exdates: string[]; exceptions: [] } {
  const lines = text.split(/\r?\n/);
  const rrule = (lines.find((l) => /^(RRULE:)?FREQ=/.test(l)) ?? '').replace(/^RRULE:/, '');
  const exdates = lines.filter((l) => l.startsWith('EXDATE')).flatMap((l) => l.slice(l.indexOf(':') + 1).split(','))
    .map((d) => d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  return { rrule: rrule || 'FREQ=DAILY;COUNT=1', exdates, exceptions: [] };
}
