import type { FolderKind, MailboxPositionKind } from '../exchange/index.js';
import type { ItemFields } from '../shared/item-fields.js';
import { assertEnvelope, envelopeId, type ChangeEnvelope, type EnvelopeOp, type EnvelopeType } from './envelope.js';
import type { OutgoingMessage } from './transport/transport.js';

const TYPE_OF: Record<FolderKind, EnvelopeType> = { calendar: 'appointment', tasks: 'task', contacts: 'contact' };

export interface ExchangeChange {
  readonly mailbox: string;
  readonly folder: FolderKind;
  readonly itemId: string;
  readonly op: EnvelopeOp;
  /** The item as read (absent for a delete). */
  readonly item?: ItemFields;
  /** GetItem found no such item: deleted since it was signalled. */
  readonly missing?: boolean;
  readonly changeKey?: string;
  /** The folder's position the change came with (opaque), and whose it is. */
  readonly position: string;
  readonly positionKind: MailboxPositionKind;
  readonly detectedAt: number;
  readonly now: number;
}

/** One Exchange change as the message the log carries (key: the mailbox, so its changes stay in order). */
export function exchangeChangeMessage(c: ExchangeChange): OutgoingMessage {
  const deleted = c.op === 'd' || c.missing === true || !c.item;
  const op: EnvelopeOp = deleted ? 'd' : c.op;
  const source = `exchange:${c.mailbox}`;
  const version = deleted ? (c.changeKey ?? 'deleted') : (c.item?.version ?? c.changeKey ?? '');
  const envelope: ChangeEnvelope = {
    specversion: '1.0', v: 2, id: envelopeId(source, c.itemId, version, op), source, type: TYPE_OF[c.folder], op,
    time: new Date(Math.min(c.detectedAt, c.now)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    position: { kind: c.positionKind, value: c.position, scope: `${c.mailbox}:${c.folder}` },
    subject: c.itemId, before: null, after: deleted ? null : c.item!, origin: 'exchange', detectedAt: c.detectedAt,
  };
  assertEnvelope(envelope);
  return { key: c.mailbox, value: JSON.stringify(envelope), headers: { 'ecs-id': envelope.id, 'ecs-type': envelope.type, 'ecs-op': op, 'ecs-origin': 'exchange' } };
}
