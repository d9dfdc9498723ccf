import { isRetriable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { parseEnvelope, type ChangeEnvelope } from '../streams/envelope.js';
import { deadLetterOf } from '../streams/dead-letter.js';
import type { PipelineMetrics } from '../streams/pipeline-metrics.js';
import type { IncomingMessage, RunningConsumer, Transport } from '../streams/transport/transport.js';

/** Headers of a replayed dead letter: where the change first was in the log. */
export const REPLAY_HEADERS = { partition: 'ecs-replay-of-partition', offset: 'ecs-replay-of-offset' } as const;

/**
 * A message's place in the log for idempotence. A replayed dead letter keeps its first
 * place, so a change parked long ago cannot overwrite a newer one applied since.
 */
function positionOf(m: IncomingMessage): { partition: number; offset: number } {
  const partition = Number(m.headers[REPLAY_HEADERS.partition]);
  const offset = Number(m.headers[REPLAY_HEADERS.offset]);
  if (m.headers[REPLAY_HEADERS.offset] !== undefined && Number.isInteger(partition) && Number.isInteger(offset)) return { partition, offset };
  return { partition: m.partition, offset: Number(m.offset) };
}

export interface RunHandlerOptions {
  transport: Transport;
  groupId: string;
  topic: string;
  dlqTopic: string;
  concurrency: number;
  direction: 'to-crm' | 'to-exchange';
  handle: (envelope: ChangeEnvelope, at: { partition: number; offset: number; key: string }) => Promise<'applied' | 'unchanged' | 'skipped'>;
  logger: Logger;
  metrics?: PipelineMetrics;
  /** Told of every applied change after its write committed (benchmarks measure latency with it). */
  onApplied?: (envelope: ChangeEnvelope, appliedAt: number) => void;
  /** Told of every message done with (applied, unchanged, skipped or dead-lettered), by key. */
  onHandled?: (key: string) => void;
}

/**
 * A consumer group applying envelopes: a message that is not a valid envelope, or whose
 * change the other side refuses for good, is parked in the dead-letter topic with headers
 * saying why and where it came from, and the group goes on; a transient failure (database
 * or Exchange unreachable) is retried — the offset is committed only after either.
 */
export async function runHandler(options: RunHandlerOptions): Promise<RunningConsumer> {
  const { transport, logger } = options;
  const deadLetter = async (m: IncomingMessage, err: unknown): Promise<void> => {
    logger.error({ err, topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, event: 'dead-lettered' }, `message parked in ${options.dlqTopic}`);
    await transport.publish(options.dlqTopic, [deadLetterOf({
      stage: 'handler', error: err, key: m.key, value: m.value, headers: m.headers,
      original: { topic: m.topic, partition: m.partition, offset: m.offset, group: options.groupId },
    })]);
  };
  return transport.consume({
    groupId: options.groupId, topics: [options.topic], concurrency: options.concurrency,
    // each mailbox's (associate's) changes in order; a slow mailbox holds up no other
    orderedBy: 'key',
    onRetry: (m, err, attempt, delayMs) => logger.warn({ err, offset: m.offset, partition: m.partition, attempt, delayMs }, 'applying a change failed; retrying'),
    handle: async (m) => {
      let envelope: ChangeEnvelope;
      try {
        envelope = parseEnvelope(m.value);
      } catch (err) {
        await deadLetter(m, err);
        options.onHandled?.(m.key);
        return;
      }
      try {
        const outcome = await options.handle(envelope, { ...positionOf(m), key: m.key });
        logger.debug({ event: 'handled', outcome, subject: envelope.subject, op: envelope.op, version: envelope.after?.version, partition: m.partition, offset: m.offset }, `${envelope.subject}: ${outcome}`);
        if (outcome === 'applied') {
          const now = Date.now();
          options.metrics?.endToEnd.observe({ direction: options.direction }, Math.max(0, now - envelope.detectedAt) / 1000);
          options.onApplied?.(envelope, now);
        }
      } catch (err) {
        if (isRetriable(err)) throw err;
        await deadLetter(m, err);
      }
      options.onHandled?.(m.key);
    },
  });
}
