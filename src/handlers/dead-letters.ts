import type { Transport } from '../streams/index.js';
import { DEAD_LETTER, type DeadLetterStage } from '../streams/dead-letter.js';
import type { IncomingMessage, OutgoingMessage } from '../streams/transport/transport.js';
import { REPLAY_HEADERS } from './run-handler.js';

export interface DeadLetter {
  partition: number;
  offset: string;
  key: string;
  parkedAt: string;
  /** Where in the flow it was parked (letters from before the stage was recorded: by what they carry). */
  stage: DeadLetterStage | 'unknown';
  errorCode: string;
  errorMessage: string;
  original: { topic: string; partition: number; offset: string; group: string };
  /** exchange-fetch: the item; crm-read: the record. */
  item?: { mailbox: string; folder: string; itemId: string };
  record?: { ref: string; position: string };
  replayed: boolean;
  /** A replay could not send it on, and parked it again with this reason. */
  refused?: string;
}

/** What a replay does with a letter that is not a message of the log: the change read again, or why it cannot be. */
export type ReplayRead = { readonly topic: string; readonly message: OutgoingMessage } | string;

export interface ReplayReaders {
  /** exchange-fetch letters: the item read from Exchange again, as a message for the Exchange changes topic. */
  readonly exchange?: (item: { mailbox: string; folder: string; itemId: string }) => Promise<ReplayRead>;
  /** crm-read letters: the record read from the CRM again, as a message for the CRM changes topic. */
  readonly crm?: (record: { ref: string; position: string }) => Promise<ReplayRead>;
}

export interface ReplayOutcome {
  readonly replayed: number;
  /** Letters that could not be sent on: parked again at the end of the topic, with the reason. */
  readonly refused: ReadonlyArray<{ partition: number; offset: string; key: string; reason: string }>;
}

function stageOf(m: IncomingMessage): DeadLetter['stage'] {
  const stage = m.headers[DEAD_LETTER.stage];
  if (stage === 'handler' || stage === 'exchange-fetch' || stage === 'crm-read') return stage;
  return m.headers[DEAD_LETTER.topic] ? 'handler' : 'unknown';
}

/** The item or record a letter is about: its headers, or (letters parked before they had them) its JSON body. */
function factsOf(m: IncomingMessage): { item?: DeadLetter['item']; record?: DeadLetter['record'] } {
  const h = m.headers;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(m.value) as Record<string, unknown>;
  } catch {
    // a handler-stage letter's body is the message itself
  }
  const text = (header: string, field: string): string => h[header] ?? (typeof body[field] === 'string' ? (body[field] as string) : '');
  const stage = stageOf(m);
  if (stage === 'exchange-fetch') return { item: { mailbox: text(DEAD_LETTER.mailbox, 'mailbox'), folder: text(DEAD_LETTER.folder, 'folder'), itemId: text(DEAD_LETTER.itemId, 'itemId') } };
  if (stage === 'crm-read') return { record: { ref: text(DEAD_LETTER.record, 'record'), position: text(DEAD_LETTER.crmPosition, 'position') } };
  return {};
}

/**
 * Every message parked in a dead-letter topic, with why and where it came from. A letter a
 * replay parked again is listed once: as the copy, with the reason it was refused.
 */
export async function listDeadLetters(transport: Transport, dlqTopic: string, replayGroup: string, limit = 1_000): Promise<DeadLetter[]> {
  const replayedUpTo = new Map((await transport.lag(replayGroup, [dlqTopic])).map((p) => [p.partition, p.committedOffset]));
  const messages = await transport.browse(dlqTopic, limit);
  const reparked = new Set(messages.map((m) => m.headers[DEAD_LETTER.reparkedFrom]).filter(Boolean));
  return messages.filter((m) => !reparked.has(`${m.partition}/${m.offset}`)).map((m) => ({
    partition: m.partition, offset: m.offset, key: m.key, parkedAt: new Date(m.timestamp).toISOString(), stage: stageOf(m),
    errorCode: m.headers[DEAD_LETTER.code] ?? '', errorMessage: m.headers[DEAD_LETTER.message] ?? '',
    original: { topic: m.headers[DEAD_LETTER.topic] ?? '', partition: Number(m.headers[DEAD_LETTER.partition] ?? -1), offset: m.headers[DEAD_LETTER.offset] ?? '', group: m.headers[DEAD_LETTER.group] ?? '' },
    ...factsOf(m),
    replayed: Number(m.offset) < (replayedUpTo.get(m.partition) ?? -1),
    ...(m.headers[DEAD_LETTER.refused] ? { refused: m.headers[DEAD_LETTER.refused] } : {}),
  }));
}

/**
 * Sends every dead letter not yet replayed on (after the cause was fixed): a handler's letter
 * back to the topic it came from, keeping its first place in the log so it cannot overwrite
 * newer changes; an unreadable Exchange item or CRM record read again and sent as the change
 * it is now (a delete, if it is gone). A letter that cannot be sent on (no reader for it here,
 * still unreadable) is parked again at the end of the topic with the reason — counted as
 * refused, never as replayed. The replay group's offsets move after that, so a crash in
 * between replays twice — harmlessly. A change that fails again is parked again by its stage.
 */
export async function replayDeadLetters(transport: Transport, dlqTopic: string, replayGroup: string, readers: ReplayReaders = {}, limit = 100_000): Promise<ReplayOutcome> {
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
  const refused: Array<{ partition: number; offset: string; key: string; reason: string }> = [];
  for (const m of due) {
    const read = await sendOn(m, readers);
    if (typeof read === 'string') {
      refused.push({ partition: m.partition, offset: m.offset, key: m.key, reason: read });
      const headers = Object.fromEntries(Object.entries(m.headers).filter(([k]) => k !== DEAD_LETTER.refused && k !== DEAD_LETTER.reparkedFrom));
      await transport.publish(dlqTopic, [{ key: m.key, value: m.value, headers: { ...headers, [DEAD_LETTER.refused]: read, [DEAD_LETTER.reparkedFrom]: `${m.partition}/${m.offset}` } }]);
      continue;
    }
    await transport.publish(read.topic, [read.message]);
    replayed++;
  }
  const moved = positions.filter((p) => upTo.get(p.partition)! > Math.max(0, p.committedOffset)).map((p) => ({ partition: p.partition, offset: upTo.get(p.partition)! }));
  if (moved.length) await transport.setOffsets(replayGroup, dlqTopic, moved);
  return { replayed, refused };
}

/** Where a letter goes on, and as what; or why it cannot. */
async function sendOn(m: IncomingMessage, readers: ReplayReaders): Promise<ReplayRead> {
  const stage = stageOf(m);
  if (stage === 'handler') {
    const topic = m.headers[DEAD_LETTER.topic];
    if (!topic) return 'it does not say which topic it came from';
    const keep = Object.entries(m.headers).filter(([k]) => !(Object.values(DEAD_LETTER) as string[]).includes(k));
    const first = { partition: m.headers[REPLAY_HEADERS.partition] ?? m.headers[DEAD_LETTER.partition], offset: m.headers[REPLAY_HEADERS.offset] ?? m.headers[DEAD_LETTER.offset] };
    return { topic, message: { key: m.key, value: m.value, headers: { ...Object.fromEntries(keep), [REPLAY_HEADERS.partition]: String(first.partition), [REPLAY_HEADERS.offset]: String(first.offset) } } };
  }
  const { item, record } = factsOf(m);
  try {
    if (stage === 'exchange-fetch' && item?.mailbox && item.itemId) return readers.exchange ? await readers.exchange(item) : 'reading the Exchange item again needs a configured <ews url> (the built-in sandbox is not this process\'s)';
    if (stage === 'crm-read' && record?.ref) return readers.crm ? await readers.crm(record) : 'reading the CRM record again needs the CRM configured here';
  } catch (err) {
    return `read again, it still fails: ${(err as Error).message}`;
  }
  return 'it names neither the message nor the item or record it is about';
}
