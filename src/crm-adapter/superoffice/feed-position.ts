/**
 * Where SuperOffice's change feed stands: the last settled archive row (its updatedDate, ms,
 * and its id — afterTime is "after or equal to", so the id breaks ties), the last delete
 * handed out (deletes come from webhooks and checks, outside the archive's order), and a
 * batch counter, so a batch that only repeated unsettled rows still has a position of its own.
 */
export interface FeedPosition {
  t: number;
  id: number;
  d: number;
  n: number;
  /** The Person archive's place (personUpdatedDate, personId) and the Selection archive's (its newest change). */
  pt: number;
  pid: number;
  st: number;
}

export function encodePosition(p: FeedPosition): string {
  return JSON.stringify({ t: p.t, id: p.id, d: p.d, n: p.n, pt: p.pt, pid: p.pid, st: p.st });
}

export function decodePosition(text: string | undefined): FeedPosition {
  if (!text) return { t: 0, id: 0, d: 0, n: 0, pt: 0, pid: 0, st: 0 };
  try {
    const p = JSON.parse(text) as Partial<FeedPosition>;
    const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return { t: n(p.t), id: n(p.id), d: n(p.d), n: n(p.n), pt: n(p.pt), pid: n(p.pid), st: n(p.st) };
  } catch {
    return { t: 0, id: 0, d: 0, n: 0, pt: 0, pid: 0, st: 0 };
  }
}
