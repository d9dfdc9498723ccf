/**
 * The log between the two systems: Kafka, or the embedded log with the same topic /
 * partition / offset / consumer-group semantics. Publishing resolves only when the log
 * has the messages durably; a consumer's offset is committed only after its handler
 * finished with the message.
 */
export interface OutgoingMessage {
  /** Partitioning key: the mailbox (Exchange side) or the owning associate (CRM side). */
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface IncomingMessage extends OutgoingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Log append time (ms). */
  readonly timestamp: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly logEndOffset: number;
  /** -1 when the group never committed on this partition. */
  readonly committedOffset: number;
  readonly lag: number;
}

export interface ConsumerOptions {
  groupId: string;
  topics: readonly string[];
  /** Partitions handled at once (each partition strictly in order). */
  concurrency: number;
  /** Called once per message, in order per partition (per key with orderedBy "key"); the offset is committed after it and every earlier one resolved. */
  handle: (message: IncomingMessage) => Promise<void>;
  /**
   * partition (default): a partition's messages one after another. key: messages of different
   * keys in a partition at once (each key's in order), `concurrency` handlings under way in
   * all; the embedded log keeps partition order, which is key order too.
   */
  orderedBy?: 'partition' | 'key';
  /**
   * Told which partitions of each topic this consumer was given (after every rebalance),
   * with the topic's partition count; the embedded log gives one consumer everything.
   */
  onAssignment?: (topic: string, assigned: number[], partitionCount: number) => void;
  /** Called when `handle` throws: the message is retried after `delayMs` (never skipped). */
  onRetry?: (message: IncomingMessage, err: unknown, attempt: number, delayMs: number) => void;
}

export interface RunningConsumer {
  readonly groupId: string;
  /** True when connected and assigned (for /readyz). */
  readonly connected: boolean;
  stop(): Promise<void>;
}

export interface Transport {
  readonly kind: 'kafka' | 'embedded';
  /** Creates missing topics with the configured partition count. */
  ensureTopics(topics: readonly string[]): Promise<void>;
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  consume(options: ConsumerOptions): Promise<RunningConsumer>;
  /** Log end offset − committed offset, per partition. */
  lag(groupId: string, topics: readonly string[]): Promise<PartitionLag[]>;
  /** True when the log is reachable (for /readyz). */
  healthy(): Promise<boolean>;
  /** Reads up to `limit` messages of a topic from the start, without a consumer group (dlq list). */
  browse(topic: string, limit: number): Promise<IncomingMessage[]>;
  /** Moves a group's committed offsets (next offset to read) on a topic; the group must have no running consumer. */
  setOffsets(groupId: string, topic: string, offsets: ReadonlyArray<{ partition: number; offset: number }>): Promise<void>;
  close(): Promise<void>;
}

/** Topic names from the configured prefix. */
export function topicsOf(prefix: string): { exchangeChanges: string; crmChanges: string; mailboxes: string; dlq: (topic: string) => string } {
  return {
    exchangeChanges: `${prefix}exchange.changes`,
    crmChanges: `${prefix}crm.changes`,
    mailboxes: `${prefix}mailboxes`,
    dlq: (topic) => `${topic}.dlq`,
  };
}

/**
 * The consumer groups of one deployment, named after its topic prefix, so that two
 * deployments on one Kafka cluster (staging and production, say) never share a group.
 */
export function groupsOf(prefix: string): { toCrm: string; toExchange: string; owners: string; dlqReplay: string } {
  return {
    toCrm: `${prefix}to-crm`,
    toExchange: `${prefix}to-exchange`,
    /** Every instance consumes <prefix>mailboxes in this group: its partitions are the instance's mailboxes. */
    owners: `${prefix}owners`,
    /** Its committed offsets on a dead-letter topic mark what was replayed. */
    dlqReplay: `${prefix}dlq-replay`,
  };
}
