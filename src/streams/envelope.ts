import type { MailboxPositionKind } from '../exchange/index.js';
import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { PoisonMessageError } from '../shared/errors.js';
import envelopeSchema from './envelope.schema.json' with { type: 'json' };

/** One change, on every topic: CloudEvents-like attributes, a Debezium-like body. */
export type EnvelopeType = 'appointment' | 'task' | 'contact' | 'selection-member';
export type EnvelopeOp = 'c' | 'u' | 'd' | 'r';
export type EnvelopeOrigin = 'exchange' | 'crm' | 'sync';

export type { Attendee, ItemFields, Recurrence } from '../shared/item-fields.js';
import type { ItemFields } from '../shared/item-fields.js';

export interface Position {
  /** ews-syncstate or graph-delta (per mailbox folder), or crm-change-log (change_id). */
  kind: MailboxPositionKind | 'crm-change-log';
  value: string;
  /** What the position belongs to: mailbox:folder, or the CRM schema. */
  scope: string;
}

export interface ChangeEnvelope {
  specversion: '1.0';
  /** 2: CRM ids are typed strings ("person:7"). Version 1 messages are read as 2 (upcastV1). */
  v: 2;
  /** Deterministic: source + object + version, so a repeat has the same id. */
  id: string;
  source: string;
  type: EnvelopeType;
  op: EnvelopeOp;
  /** When the change happened or was detected (UTC). */
  time: string;
  position: Position;
  /** The object's identity at its source. */
  subject: string;
  before: ItemFields | null;
  after: ItemFields | null;
  origin: EnvelopeOrigin;
  /** When the change was detected (ms since epoch), for end-to-end latency. */
  detectedAt: number;
}

export function envelopeId(source: string, subject: string, version: string, op: EnvelopeOp): string {
  return createHash('sha256').update(`${source}\n${subject}\n${version}\n${op}`).digest('base64url').slice(0, 32);
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateEnvelope = ajv.compile<ChangeEnvelope>(envelopeSchema);

/** Validates an envelope (both ends); throws PoisonMessageError naming what is wrong. */
export function assertEnvelope(value: unknown): ChangeEnvelope {
  if (!validateEnvelope(value)) {
    const problems = (validateEnvelope.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new PoisonMessageError(`not a valid change envelope: ${problems}`, { context: { problems } });
  }
  return value;
}

export function parseEnvelope(bytes: Buffer | string | null): ChangeEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : (bytes ?? Buffer.alloc(0)).toString('utf8'));
  } catch (err) {
    throw new PoisonMessageError(`the message is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return assertEnvelope(upcastV1(value));
}

/** v1 → v2 fields: numeric CRM ids become typed refs; the rest stayed the same. */
const V1_LINKS: ReadonlyArray<[string, string, string]> = [
  ['associateId', 'owner', 'associate'], ['contactId', 'contactRef', 'contact'], ['personId', 'personRef', 'person'],
  ['motherId', 'motherRef', 'appointment'], ['seriesId', 'seriesRef', 'appointment'],
];

/**
 * Messages written by a version before typed CRM ids (still in the log or parked in a
 * dead-letter topic after an upgrade) are read as version 2, so none of them is lost.
 */
export function upcastV1(value: unknown): unknown {
  const e = value as { v?: unknown; before?: Record<string, unknown> | null; after?: Record<string, unknown> | null } | null;
  if (!e || typeof e !== 'object' || e.v !== 1) return value;
  const fields = (f: Record<string, unknown> | null | undefined): Record<string, unknown> | null | undefined => {
    if (!f || typeof f !== 'object') return f;
    const out = { ...f };
    for (const [from, to, entity] of V1_LINKS) {
      if (!(from in out)) continue;
      const id = out[from];
      delete out[from];
      out[to] = typeof id === 'number' ? `${entity}:${id}` : null;
    }
    if (out.owner === null) delete out.owner;
    return out;
  };
  return { ...e, v: 2, before: fields(e.before), after: fields(e.after) };
}

export { envelopeSchema };
