import { CompressionTypes, Kafka, logLevel, Partitioners, type Admin, type Consumer, type KafkaConfig, type LogEntry, type Producer, type SASLOptions } from 'kafkajs';
import type { TransportSettings } from '../../config/index.js';
import { TransportError } from '../../shared/errors.js';
import { withTimeout } from '../../shared/with-timeout.js';
import type { Logger } from '../../shared/logger.js';
import { handleWithRetries } from './handle-with-retries.js';
import { handleKeyOrdered } from './key-ordered-batch.js';
import { Limiter } from '../../shared/limiter.js';
import type { ConsumerOptions, IncomingMessage, OutgoingMessage, PartitionLag, RunningConsumer, Transport } from './transport.js';

/** Within a batch, offsets are committed every this many messages or this many ms (and at its end). */
const COMMIT_EVERY = 200;
const COMMIT_INTERVAL_MS = 250;

/** kafkajs logs through pino, at warn and above (its info is chatty). */
function logCreator(logger: Logger) {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...extra } = log;
    if (level <= logLevel.ERROR) logger.error({ kafka: extra }, `kafkajs: ${message}`);
    else if (level === logLevel.WARN) logger.warn({ kafka: extra }, `kafkajs: ${message}`);
  };
}

export function kafkaConfig(settings: TransportSettings, logger: Logger): KafkaConfig {
  return {
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    // TLS is verified unless the operator turned it off explicitly.
    ssl: settings.ssl ? { rejectUnauthorized: settings.tlsVerify } : undefined,
    sasl: settings.sasl ? ({ mechanism: settings.sasl.mechanism, username: settings.sasl.username, password: settings.sasl.password } as SASLOptions) : undefined,
    logLevel: logLevel.WARN,
    logCreator: logCreator(logger.child({ component: 'kafka' })),
    retry: { initialRetryTime: 300, retries: 8 },
    connectionTimeout: 5_000,
  };
}

/**
 * Transport over Apache Kafka (kafkajs): an idempotent producer with acks from all in-sync
 * replicas and gzip compression; consumers that commit an offset only after the handler
 * finished with the message, so Kafka's own tools show the true lag.
 */
export class KafkaTransport implements Transport {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  /** One admin client, connected once (a connect in progress is shared, not repeated). */
  private admin: Promise<Admin> | undefined;
  private readonly consumers = new Set<Consumer>();

  constructor(private readonly settings: TransportSettings, private readonly logger: Logger) {
    this.kafka = new Kafka(kafkaConfig(settings, logger));
  }

  private getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
      });
    }
    return this.admin;
  }

  private async getProducer(): Promise<Producer> {
    if (!this.producer) {
      // maxInFlightRequests 1 keeps per-partition order even across retries.
      const producer = this.kafka.producer({
        idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner,
        // An idempotent producer must not give up on its own: while the broker is away, publish waits.
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 10_000 },
      });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  async ensureTopics(topics: readonly string[]): Promise<void> {
    const admin = await this.getAdmin();
    const existing = new Set(await this.whileRetriable('listing topics', () => admin.listTopics()));
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length) {
      await this.whileRetriable('creating topics', () => admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: this.settings.partitions, replicationFactor: this.settings.replicationFactor })),
      }));
      this.logger.info({ event: 'kafka.topics-created', topics: missing, partitions: this.settings.partitions }, `created topics ${missing.join(', ')}`);
    }
    await this.untilLeaders(topics);
  }

  /**
   * Work the broker refuses for a while — a fresh or loaded broker still loading a partition its
   * metadata already names a leader of ("This server does not host this topic-partition") —
   * tried again for up to a minute, with growing pauses; kafkajs's own few retries may end sooner.
   */
  private async whileRetriable<T>(what: string, work: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (let wait = 200; ; wait = Math.min(wait * 2, 3_000)) {
      try {
        return await work();
      } catch (err) {
        const e = err as { retriable?: boolean; name?: string; cause?: { retriable?: boolean } };
        const retriable = e?.retriable === true || (e?.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause?.retriable === true);
        if (!retriable || Date.now() + wait > deadline) throw err;
        this.logger.info({ event: 'kafka.retrying', what, err }, `${what}: the broker is not ready (${(err as Error).message}); trying again in ${wait} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * Until every partition of the topics has a leader in the cluster's metadata. A topic just
   * made — by us, or by another instance a moment ago (then createTopics was not ours to wait
   * on) — may not have one yet on a loaded broker: the first send would meet "This server does
   * not host this topic-partition".
   */
  private async untilLeaders(topics: readonly string[], timeoutMs = 60_000): Promise<void> {
    const admin = await this.getAdmin();
    const deadline = Date.now() + timeoutMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
      const leaderless = await admin.fetchTopicMetadata({ topics: [...topics] }).then(
        (m) => m.topics.flatMap((t) => (t.partitions.length ? t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}[${p.partitionId}]`) : [`${t.name} (no partitions yet)`])),
        (err: Error) => [`metadata: ${err.message}`],
      );
      if (!leaderless.length) return;
      if (Date.now() > deadline) throw new TransportError('NO_LEADER', `partitions without a leader after ${timeoutMs / 1000} s: ${leaderless.slice(0, 5).join(', ')}`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    try {
      const producer = await this.getProducer();
      await producer.send({ topic, acks: -1, compression: this.settings.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers } })) });
    } catch (err) {
      // A producer that failed may be unusable: start a new one next time.
      const old = this.producer;
      this.producer = undefined;
      await old?.disconnect().catch(() => undefined);
      throw new TransportError('PUBLISH_FAILED', `publishing ${messages.length} messages to ${topic} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async consume(options: ConsumerOptions): Promise<RunningConsumer> {
    let connected = false;
    // kafkajs drops commits made once disconnect() has begun, so stopping is ours first:
    // batches finish the message at hand and commit, then the consumer disconnects.
    let stopping = false;
    let activeBatches = 0;
    // key order: the handlings under way across all partitions stay within `concurrency`
    const slots = new Limiter(options.concurrency);
    let assignments = Promise.resolve();
    let consumer: Consumer;
    let restartTimer: NodeJS.Timeout | undefined;

    const launch = async (): Promise<void> => {
      const current = this.kafka.consumer({ groupId: options.groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false });
      consumer = current;
      this.consumers.add(current);
      current.on(current.events.GROUP_JOIN, (e) => {
        connected = true;
        if (!options.onAssignment) return;
        const assignment = e.payload.memberAssignment as Record<string, number[]>;
        // one rebalance after the other, in order, even though reading the metadata is async
        assignments = assignments.then(async () => {
          const metadata = await (await this.getAdmin()).fetchTopicMetadata({ topics: [...options.topics] });
          for (const t of metadata.topics) options.onAssignment!(t.name, [...(assignment[t.name] ?? [])].sort((a, b) => a - b), t.partitions.length);
        }).catch((err: unknown) => this.logger.error({ err, group: options.groupId }, 'reading the assignment failed'));
      });
      current.on(current.events.CRASH, (e) => {
        connected = false;
        if (e.payload.restart || stopping) return;
        // kafkajs gives up on errors it deems non-retriable (e.g. evicted from the group
        // after a long pause); a handler group must never stop for good: start afresh.
        this.logger.error({ err: e.payload.error, group: options.groupId, event: 'kafka.consumer-restart' }, 'the consumer crashed; starting a new one in 2 s');
        this.consumers.delete(current);
        restartTimer = setTimeout(() => void launch().catch((err: unknown) => this.logger.error({ err, group: options.groupId }, 'restarting the consumer failed')), 2_000);
      });
      current.on(current.events.DISCONNECT, () => (connected = false));
      current.on(current.events.STOP, () => (connected = false));
      await current.connect();
      await this.whileRetriable(`subscribing ${options.groupId}`, () => current.subscribe({ topics: [...options.topics], fromBeginning: true }));
      await current.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.concurrency,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (stopping) return;
          activeBatches++;
          let sinceCommit = 0;
          let lastCommitAt = Date.now();
          let lastHandled: string | undefined;
          let committed: string | undefined;
          const commit = async (): Promise<void> => {
            if (lastHandled === undefined || lastHandled === committed) return;
            await current.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(lastHandled) + 1n).toString() }]);
            committed = lastHandled;
            sinceCommit = 0;
            lastCommitAt = Date.now();
          };
          const commitOrGiveUp = (): Promise<boolean> =>
            commit().then(() => true, (err: unknown) => {
              // no longer a member (a rebalance, an eviction): the rest of the batch is handled
              // again by whoever gets the partition — repeats are harmless, a crash is not
              this.logger.warn({ err, topic: batch.topic, partition: batch.partition }, 'committing offsets failed; the messages will be handled again');
              return false;
            });
          const gone = (): boolean => stopping || !isRunning() || isStale();
          const messages: IncomingMessage[] = batch.messages.map((m) => ({
            topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? '', value: m.value?.toString() ?? '',
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : String(v ?? '')])),
            timestamp: Number(m.timestamp),
          }));
          const handle = (message: IncomingMessage): Promise<boolean> => (gone() ? Promise.resolve(false) : handleWithRetries(options, message, { wait: heartbeat, stopped: gone }));
          /** Everything up to this message is handled: it may be committed. */
          const handledUpTo = async (message: IncomingMessage): Promise<boolean> => {
            resolveOffset(message.offset);
            lastHandled = message.offset;
            if ((++sinceCommit >= COMMIT_EVERY || Date.now() - lastCommitAt >= COMMIT_INTERVAL_MS) && !(await commitOrGiveUp())) return false;
            await heartbeat();
            return true;
          };
          try {
            if (options.orderedBy === 'key') {
              await handleKeyOrdered(messages, slots.run.bind(slots), handle, handledUpTo);
            } else {
              for (const message of messages) if (!(await handle(message)) || !(await handledUpTo(message))) return;
            }
          } finally {
            // What was handled is committed, also when the consumer is stopping mid-batch.
            if (!isStale()) await commitOrGiveUp();
            activeBatches--;
          }
        },
      });
    };

    await launch();
    return {
      groupId: options.groupId,
      get connected() {
        return connected;
      },
      stop: async () => {
        stopping = true;
        clearTimeout(restartTimer);
        const deadline = Date.now() + 30_000;
        while (activeBatches > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  async lag(groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
    const admin = await this.getAdmin();
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    const out: PartitionLag[] = [];
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = Number(ends.find((e) => e.partition === p.partition)?.high ?? 0);
        const c = Number(p.offset);
        out.push({ topic: t.topic, partition: p.partition, logEndOffset: end, committedOffset: c, lag: c < 0 ? end : Math.max(0, end - c) });
      }
    }
    return out;
  }

  async setOffsets(groupId: string, topic: string, offsets: ReadonlyArray<{ partition: number; offset: number }>): Promise<void> {
    const admin = await this.getAdmin();
    await admin.setOffsets({ groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: String(o.offset) })) });
  }

  /**
   * A throwaway group reads from the beginning up to the end offsets seen at the start,
   * then is deleted (kafkajs has no group-less consumer).
   */
  async browse(topic: string, limit: number): Promise<IncomingMessage[]> {
    const admin = await this.getAdmin();
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
    const wanted = [...ends.values()].reduce((n, e) => n + (e.high - e.low), 0);
    if (wanted === 0) return [];
    const groupId = `exchange-crm-sync.browse-${process.pid}-${Date.now()}`;
    const consumer = this.kafka.consumer({ groupId, sessionTimeout: 10_000, allowAutoTopicCreation: false });
    const found: IncomingMessage[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reading ${topic} took longer than 30 s`)), 30_000);
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = ends.get(partition);
            if (end && Number(message.offset) < end.high && found.length < limit) {
              found.push({
                topic, partition, offset: message.offset, key: message.key?.toString() ?? '', value: message.value?.toString() ?? '',
                headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v ?? '')])),
                timestamp: Number(message.timestamp),
              });
            }
            if (found.length >= Math.min(limit, wanted)) {
              clearTimeout(timer);
              resolve();
            }
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return found.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  }

  async healthy(): Promise<boolean> {
    try {
      // Connecting is inside the time limit too: kafkajs retries a connect for far longer
      // than a readiness probe may take. listTopics is a Metadata round trip (describeCluster
      // answers from the cache).
      await withTimeout(this.getAdmin().then((admin) => admin.listTopics()), 3_000, 'timeout');
      return true;
    } catch {
      const old = this.admin;
      this.admin = undefined;
      void old?.then((a) => a.disconnect()).catch(() => undefined);
      return false;
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.consumers]) await c.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.then((a) => a.disconnect()).catch(() => undefined);
  }
}
