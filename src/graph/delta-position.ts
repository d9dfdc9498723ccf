import { GraphApiError } from './graph-error.js';

/** Where a delta read stands: the next or delta link, and when its round began (to tell new items from changed ones). */
export interface DeltaPosition {
  readonly link: string;
  readonly since: number;
}

/** Our clock and Exchange's may differ: an item made this close to a round's start counts as new. */
export const CLOCK_MARGIN_MS = 60_000;

/** A saved position of this kind; one that is not (another source's, or damaged) is as unknown as a lost token. */
export function parseDeltaPosition(position: string, what: string): DeltaPosition {
  try {
    const p = JSON.parse(position) as Partial<DeltaPosition>;
    if (typeof p.link === 'string' && typeof p.since === 'number') return { link: p.link, since: p.since };
  } catch {
    // fall through
  }
  throw new GraphApiError(410, 'syncStateNotFound', `the saved position is not a Graph ${what} delta position`);
}

/** The position after a page: its next link (same round), or its delta link (the next round starts at `started`). */
export function positionAfter(page: { '@odata.nextLink'?: string; '@odata.deltaLink'?: string }, since: number, started: number, what: string): { position: string; complete: boolean } {
  const nextLink = page['@odata.nextLink'];
  const deltaLink = page['@odata.deltaLink'];
  if (!nextLink && !deltaLink) throw new GraphApiError(502, 'MalformedResponse', `${what}: the answer has neither @odata.nextLink nor @odata.deltaLink`);
  return { position: JSON.stringify({ link: (nextLink ?? deltaLink)!, since: nextLink ? since : started } satisfies DeltaPosition), complete: !nextLink };
}
