import type { OutgoingMessage } from './transport/transport.js';

/** Where in the flow a change was parked: each stage's letters are replayed their own way. */
export type DeadLetterStage =
  /** A handler refused the envelope: replayed by sending it back to its topic. */
  | 'handler'
  /** An Exchange item could not be read: replayed by reading it again. */
  | 'exchange-fetch'
  /** A CRM record could not become an envelope: replayed by reading it again. */
  | 'crm-read';

/** The one set of header names every dead letter carries (what `dlq list` and `dlq replay` read). */
export const DEAD_LETTER = {
  stage: 'ecs-stage',
  code: 'ecs-error-code',
  message: 'ecs-error-message',
  /** handler stage: where the message was, and which group refused it. */
  topic: 'ecs-original-topic',
  partition: 'ecs-original-partition',
  offset: 'ecs-original-offset',
  group: 'ecs-consumer-group',
  /** exchange-fetch stage: the item. */
  mailbox: 'ecs-mailbox',
  folder: 'ecs-folder',
  itemId: 'ecs-item-id',
  /** crm-read stage: the record and the feed's position after it. */
  record: 'ecs-crm-record',
  crmPosition: 'ecs-crm-position',
  /** A replay that could not send the letter on parks it again, saying why, and which letter it was. */
  refused: 'ecs-replay-refused',
  reparkedFrom: 'ecs-reparked-from',
} as const;

export interface DeadLetterFacts {
  readonly stage: DeadLetterStage;
  readonly error: unknown;
  readonly key: string;
  /** The message itself (handler stage), or a description of what could not be read. */
  readonly value: string | null;
  /** The message's own headers (kept, so a replay sends the same message). */
  readonly headers?: Record<string, string>;
  readonly original?: { readonly topic: string; readonly partition: number; readonly offset: string; readonly group: string };
  readonly item?: { readonly mailbox: string; readonly folder: string; readonly itemId: string };
  readonly crm?: { readonly record: string; readonly position: string };
}

/** The dead letter for these facts: one shape for every stage. */
export function deadLetterOf(f: DeadLetterFacts): OutgoingMessage {
  const e = f.error as { code?: unknown; message?: unknown } | null;
  const code = String(e?.code ?? 'ERROR');
  const headers: Record<string, string> = {
    ...(f.headers ?? {}), [DEAD_LETTER.stage]: f.stage, [DEAD_LETTER.code]: code, [DEAD_LETTER.message]: String(e?.message ?? f.error).slice(0, 1_000),
  };
  if (f.original) Object.assign(headers, { [DEAD_LETTER.topic]: f.original.topic, [DEAD_LETTER.partition]: String(f.original.partition), [DEAD_LETTER.offset]: f.original.offset, [DEAD_LETTER.group]: f.original.group });
  if (f.item) Object.assign(headers, { [DEAD_LETTER.mailbox]: f.item.mailbox, [DEAD_LETTER.folder]: f.item.folder, [DEAD_LETTER.itemId]: f.item.itemId });
  if (f.crm) Object.assign(headers, { [DEAD_LETTER.record]: f.crm.record, [DEAD_LETTER.crmPosition]: f.crm.position });
  return { key: f.key, value: f.value ?? '', headers };
}
