import type { Transport } from '../streams/index.js';
import { REPLAY_HEADERS } from './run-handler.js';

export interface DeadLetter {
  partition: number;
  offset: string;
  key: string;
  parkedAt: string;
  errorCode: string;
  errorMessage: string;
  original: { topic: string; partition: number; offset: string; group: string };
  replayed: boolean;
}

/** Every message parked in a dead-letter topic, with why and where it came from. */
export async function listDeadLetters(transport: Transport, dlqTopic: string, replayGroup: string, limit = 1_000): Promise<DeadLetter[]> {
  const replayedUpTo = new Map((await transport.lag(replayGroup, [dlqTopic])).map((p) => [p.partition, p.committedOffset]));
  return (await transport.browse(dlqTopic, limit)).map((m) => ({
    partition: m.partition, offset: m.offset, key: m.key, parkedAt: new Date(m.timestamp).toISOString(),
    errorCode: m.headers['ecs-error-code'] ?? '', errorMessage: m.headers['ecs-error-message'] ?? '',
    original: { topic: m.headers['ecs-original-topic'] ?? '', partition: Number(m.headers['ecs-original-partition'] ?? -1), offset: m.headers['ecs-original-offset'] ?? '', group: m.headers['ecs-consumer-group'] ?? '' },
    replayed: Number(m.offset) < (replayedUpTo.get(m.partition) ?? -1),
  }));
}

/**
 * Sends every dead letter not yet replayed back to the topic it came from (after the cause
 * was fixed), keeping its first place in the log so it cannot overwrite newer changes.
 * `replayGroup` (groupsOf(prefix).dlqReplay) records what was replayed. Only what is parked now is replayed: a change that fails again is parked again and
 * waits for the next replay. The replay group's offsets move after the messages are back
 * in their topics, so a crash in between replays them twice — harmlessly.
 */
export async function replayDeadLetters(transport: Transport, dlqTopic: string, replayGroup: string, limit = 100_000): Promise<number> {
  const positions = await transport.lag(replayGroup, [dlqTopic]);
  const from = new Map(positions.map((p) => [p.partition, Math.max(0, p.committedOffset)]));
  const upTo = new Map(positions.map((p) => [p.partition, p.logEndOffset]));
  const parked = await transport.browse(dlqTopic, limit);
  if (parked.length >= limit) {
    // more than one pass can read: replay up to what was read, the rest next time
    for (const p of upTo.keys()) upTo.set(p, Math.min(upTo.get(p)!, 1 + Math.max(-1, ...parked.filter((m) => m.partition === p).map((m) => Number(m.offset)))));
  }
  const due = parked.filter((m) => Number(m.offset) >= (from.get(m.partition) ?? 0) && Number(m.offset) < (upTo.get(m.partition) ?? 0));
  let replayed = 0;
  for (const m of due) {
    const topic = m.headers['ecs-original-topic'];
    if (!topic) continue; // not one of ours: nowhere to send it
    const headers = Object.fromEntries(Object.entries(m.headers).filter(([k]) => !k.startsWith('ecs-error-') && !k.startsWith('ecs-original-') && k !== 'ecs-consumer-group'));
    const first = { partition: m.headers[REPLAY_HEADERS.partition] ?? m.headers['ecs-original-partition'], offset: m.headers[REPLAY_HEADERS.offset] ?? m.headers['ecs-original-offset'] };
    await transport.publish(topic, [{ key: m.key, value: m.value, headers: { ...headers, [REPLAY_HEADERS.partition]: String(first.partition), [REPLAY_HEADERS.offset]: String(first.offset) } }]);
    replayed++;
  }
  const moved = positions.filter((p) => upTo.get(p.partition)! > Math.max(0, p.committedOffset)).map((p) => ({ partition: p.partition, offset: upTo.get(p.partition)! }));
  if (moved.length) await transport.setOffsets(replayGroup, dlqTopic, moved);
  return replayed;
}
