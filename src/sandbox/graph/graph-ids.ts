import { itemIdOf, parseItemId, type ItemKey } from '../ids.js';

/**
 * Graph's ids of the same items EWS names: Exchange's REST ids are its EWS ids with the
 * URL-unsafe base64 characters replaced ('/' → '-', '+' → '_'), which is what
 * translateExchangeIds (ewsId → restId) does.
 */
export const restIdOf = (ewsId: string): string => ewsId.replace(/\//g, '-').replace(/\+/g, '_');
export const ewsIdOf = (restId: string): string => restId.replace(/-/g, '/').replace(/_/g, '+');
export const graphIdOf = (mailbox: number, item: number): string => restIdOf(itemIdOf(mailbox, item));
export const parseGraphId = (id: string): ItemKey | undefined => parseItemId(ewsIdOf(id));

/** Where a delta round stands: opaque to clients, decodable by the sandbox. */
export interface DeltaPosition {
  /** The sandbox instance and the Graph side's token generation (lost tokens: a new one). */
  readonly epoch: number;
  readonly generation: number;
  readonly mailbox: number;
  readonly folder: string;
  /** The window of the calendar view (ms). */
  readonly from: number;
  readonly to: number;
  /** Everything up to this change number is known to the client (-1: the first round). */
  readonly after: number;
  /** A page inside a round: the round's snapshot change number and how many were sent. */
  readonly upTo?: number;
  readonly offset?: number;
}

export const deltaTokenOf = (p: DeltaPosition): string => Buffer.from(JSON.stringify([p.epoch, p.generation, p.mailbox, p.folder, p.from, p.to, p.after, p.upTo ?? null, p.offset ?? null])).toString('base64url');

export function parseDeltaToken(token: string): DeltaPosition | undefined {
  try {
    const a = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (!Array.isArray(a) || a.length !== 9 || typeof a[3] !== 'string' || a.some((v, i) => i !== 3 && v !== null && typeof v !== 'number')) return undefined;
    const [epoch, generation, mailbox, folder, from, to, after, upTo, offset] = a as [number, number, number, string, number, number, number, number | null, number | null];
    return { epoch, generation, mailbox, folder, from, to, after, ...(upTo !== null ? { upTo } : {}), ...(offset !== null ? { offset } : {}) };
  } catch {
    return undefined;
  }
}
