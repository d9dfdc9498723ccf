import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { TransportError } from '../../shared/errors.js';
import { Limiter } from '../../shared/limiter.js';
import type { Logger } from '../../shared/logger.js';
import { assertIdentifier, type Database } from '../../state/database.js';
import { handleWithRetries } from './handle-with-retries.js';
import type { ConsumerOptions, IncomingMessage, OutgoingMessage, PartitionLag, RunningConsumer, Transport } from './transport.js';

const FETCH = 200;
const IDLE_POLL_MS = 1_000;

/** Stable key → partition, so one mailbox's changes stay in order on one partition. */
export function partitionOf(key: string, partitions: number): number {
  return createHash('md5').update(key).digest().readUInt32BE(0) % partitions;
}

/**
 * The log in the embedded database (or any PostgreSQL): topics with partitions and
 * offsets, consumer groups with committed offsets — Kafka's semantics for one instance,
 * so `npm start` needs no broker and lag and replay work the same. Durable: a restart
 * resumes from the committed offsets.
 */
export class EmbeddedTransport implements Transport {
  readonly kind = 'embedded' as const;
  private readonly s: string;
  private readonly appended = new EventEmitter();
  private readonly partitionCounts = new Map<string, number>();
  private readonly running = new Set<{ stop(): Promise<void> }>();

  private constructor(private readonly db: Database, schema: string, private readonly partitions: number, private readonly logger: Logger) {
    this.s = assertIdentifier(schema);
    this.appended.setMaxListeners(0);
  }

  static async open(db: Database, schema: string, partitions: number, logger: Logger): Promise<EmbeddedTransport> {
    const t = new EmbeddedTransport(db, schema, partitions, logger);
    const s = t.s;
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.log_partition (topic text not null, partition int not null, next_offset bigint not null default 0, primary key (topic, partition))`);
    await db.query(`create table if not exists ${s}.log_message (topic text not null, partition int not null, "offset" bigint not null, key text not null, value text not null, headers jsonb not null, ts timestamptz not null default clock_timestamp(), primary key (topic, partition, "offset"))`);
    await db.query(`create table if not exists ${s}.log_group_offset (group_id text not null, topic text not null, partition int not null, committed bigint not null, primary key (group_id, topic, partition))`);
    return t;
  }

  async ensureTopics(topics: readonly string[]): Promise<void> {
    for (const topic of topics) {
      const existing = await this.partitionCount(topic);
      if (existing > 0) continue;
      for (let p = 0; p < this.partitions; p++) {
        await this.db.query(`insert into ${this.s}.log_partition (topic, partition) values ($1, $2) on conflict do nothing`, [topic, p]);
      }
      this.partitionCounts.set(topic, this.partitions);
    }
  }

  private async partitionCount(topic: string): Promise<number> {
    const cached = this.partitionCounts.get(topic);
    if (cached) return cached;
    const { rows } = await this.db.query<{ n: number }>(`select count(*)::int as n from ${this.s}.log_partition where topic = $1`, [topic]);
    if (rows[0].n > 0) this.partitionCounts.set(topic, rows[0].n);
    return rows[0].n;
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    const partitions = await this.partitionCount(topic);
    if (!partitions) throw new TransportError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { retriable: false });
    const byPartition = new Map<number, OutgoingMessage[]>();
    for (const m of messages) {
      const p = partitionOf(m.key, partitions);
      const list = byPartition.get(p) ?? [];
      list.push(m);
      byPartition.set(p, list);
    }
    try {
      await this.db.transaction(async (tx) => {
        for (const [partition, list] of byPartition) {
          const { rows } = await tx.query<{ next_offset: string }>(
            `update ${this.s}.log_partition set next_offset = next_offset + $3 where topic = $1 and partition = $2 returning next_offset`,
            [topic, partition, list.length],
          );
          const first = Number(rows[0].next_offset) - list.length;
          const values: unknown[] = [];
          const tuples = list.map((m, i) => {
            values.push(topic, partition, first + i, m.key, m.value, JSON.stringify(m.headers));
            const b = i * 6;
            return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}::jsonb)`;
          });
          await tx.query(`insert into ${this.s}.log_message (topic, partition, "offset", key, value, headers) values ${tuples.join(', ')}`, values);
        }
      });
    } catch (err) {
      throw new TransportError('PUBLISH_FAILED', `appending ${messages.length} messages to ${topic} failed: ${(err as Error).message}`, { cause: err });
    }
    this.appended.emit(topic);
  }

  async consume(options: ConsumerOptions): Promise<RunningConsumer> {
    let stopped = false;
    const limiter = new Limiter(Math.max(1, options.concurrency));
    // every idle partition loop waits here (one per partition, bounded, each removes itself):
    // a set of waiters, not an EventEmitter, whose listener limit of 10 warned of a "leak" at
    // every start (12 partitions)
    const wake = new Wakeup();
    const onAppend = (): void => wake.all();
    for (const t of options.topics) this.appended.on(t, onAppend);
    const loops: Promise<void>[] = [];
    for (const topic of options.topics) {
      const partitions = await this.partitionCount(topic);
      options.onAssignment?.(topic, Array.from({ length: partitions }, (_, p) => p), partitions);
      for (let p = 0; p < partitions; p++) loops.push(this.partitionLoop(options, topic, p, limiter, wake, () => stopped));
    }
    const running = {
      groupId: options.groupId,
      connected: true,
      stop: async () => {
        stopped = true;
        wake.all();
        for (const t of options.topics) this.appended.off(t, onAppend);
        await Promise.all(loops);
        this.running.delete(running);
      },
    };
    this.running.add(running);
    return running;
  }

  private async partitionLoop(options: ConsumerOptions, topic: string, partition: number, limiter: Limiter, wake: Wakeup, stopped: () => boolean): Promise<void> {
    const waitForMore = (): Promise<void> => wake.next(IDLE_POLL_MS);
    while (!stopped()) {
      let handled = 0;
      try {
        handled = await limiter.run(() => this.consumeBatch(options, topic, partition, stopped));
      } catch (err) {
        this.logger.error({ err, topic, partition, group: options.groupId }, 'embedded log: reading a partition failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
      if (handled === 0 && !stopped()) await waitForMore();
    }
  }

  /** Handles what is there after the committed offset; returns how many messages were handled. */
  private async consumeBatch(options: ConsumerOptions, topic: string, partition: number, stopped: () => boolean): Promise<number> {
    const { rows: committed } = await this.db.query<{ committed: string }>(
      `select committed from ${this.s}.log_group_offset where group_id = $1 and topic = $2 and partition = $3`, [options.groupId, topic, partition],
    );
    const from = committed.length ? Number(committed[0].committed) : 0;
    const { rows } = await this.db.query<{ offset: string; key: string; value: string; headers: Record<string, string> | string; ts: Date }>(
      `select "offset", key, value, headers, ts from ${this.s}.log_message where topic = $1 and partition = $2 and "offset" >= $3 order by "offset" limit ${FETCH}`,
      [topic, partition, from],
    );
    let last: number | undefined;
    let savedUpTo: number | undefined;
    const commit = async (): Promise<void> => {
      if (last === undefined || last === savedUpTo) return;
      await this.commit(options.groupId, topic, partition, last + 1);
      savedUpTo = last;
    };
    try {
      for (const r of rows) {
        if (stopped()) break;
        const message: IncomingMessage = {
          topic, partition, offset: String(r.offset), key: r.key, value: r.value,
          headers: typeof r.headers === 'string' ? (JSON.parse(r.headers) as Record<string, string>) : r.headers, timestamp: new Date(r.ts).getTime(),
        };
        if (!(await handleWithRetries(options, message, { stopped }))) return 0;
        last = Number(r.offset);
        // committed every 50 messages and at the end of the fetch: fewer writes, the same guarantee
        if (last - (savedUpTo ?? from - 1) >= 50) await commit();
      }
    } finally {
      await commit();
    }
    return rows.length;
  }

  private async commit(groupId: string, topic: string, partition: number, next: number): Promise<void> {
    await this.db.query(
      `insert into ${this.s}.log_group_offset (group_id, topic, partition, committed) values ($1, $2, $3, $4) on conflict (group_id, topic, partition) do update set committed = excluded.committed`,
      [groupId, topic, partition, next],
    );
  }

  async lag(groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
    const { rows } = await this.db.query<{ topic: string; partition: number; next_offset: string; committed: string | null }>(
      `select p.topic, p.partition, p.next_offset, o.committed from ${this.s}.log_partition p
       left join ${this.s}.log_group_offset o on o.group_id = $1 and o.topic = p.topic and o.partition = p.partition
       where p.topic = any($2::text[]) order by p.topic, p.partition`,
      [groupId, [...topics]],
    );
    return rows.map((r) => {
      const end = Number(r.next_offset);
      const c = r.committed === null ? -1 : Number(r.committed);
      return { topic: r.topic, partition: r.partition, logEndOffset: end, committedOffset: c, lag: c < 0 ? end : Math.max(0, end - c) };
    });
  }

  async setOffsets(groupId: string, topic: string, offsets: ReadonlyArray<{ partition: number; offset: number }>): Promise<void> {
    for (const o of offsets) await this.commit(groupId, topic, o.partition, o.offset);
  }

  async browse(topic: string, limit: number): Promise<IncomingMessage[]> {
    const { rows } = await this.db.query<{ partition: number; offset: string; key: string; value: string; headers: Record<string, string> | string; ts: Date }>(
      `select partition, "offset", key, value, headers, ts from ${this.s}.log_message where topic = $1 order by partition, "offset" limit $2`, [topic, limit],
    );
    return rows.map((r) => ({
      topic, partition: r.partition, offset: String(r.offset), key: r.key, value: r.value,
      headers: typeof r.headers === 'string' ? (JSON.parse(r.headers) as Record<string, string>) : r.headers, timestamp: new Date(r.ts).getTime(),
    }));
  }

  async healthy(): Promise<boolean> {
    try {
      await this.db.query('select 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    for (const r of [...this.running]) await r.stop();
  }
}

/** Waiters woken all at once (new messages, a stop), or each after its own timeout. */
class Wakeup {
  private readonly waiters = new Set<() => void>();

  next(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  all(): void {
    for (const w of [...this.waiters]) w();
  }
}
