// How long each change took to arrive: every change made (a journal of the sandbox's
// activity generator, or of CRM writes) is matched with the first applied change of the
// same item that includes it — the same version or a later one, or the item's delete.
// A change that nothing includes is lost.

/** A change made on one side, in the order it was made per item. */
export interface MadeChange {
  readonly item: string;
  readonly op: 'c' | 'u' | 'd';
  /** The version the item had after this change (ChangeKey / updated_count). */
  readonly version: string;
  readonly time: number;
  /** What the item is (the sandbox's kind: CalendarItem, Task). */
  readonly kind?: string;
}

/** A change that arrived on the other side. */
export interface ArrivedChange {
  readonly item: string;
  /** r: a resync's read (the first sync, a recovery): arrives like an update. */
  readonly op: 'c' | 'u' | 'd' | 'r';
  readonly version: string | null;
  readonly at: number;
}

export interface Arrival {
  /** One latency (ms) per change made that arrived, in the order of `made`. */
  readonly latenciesMs: number[];
  /** Changes made that never arrived. */
  readonly lost: MadeChange[];
  /**
   * Changes of items created and deleted before the other side looked: nothing of them
   * arrived and nothing needed to (Exchange reports neither) — not lost, no latency.
   */
  readonly superseded: number;
  /** Applied changes that matched nothing made in the window (warm-up leftovers, duplicates). */
  readonly unmatched: number;
}

export function matchArrivals(made: readonly MadeChange[], arrived: readonly ArrivedChange[]): Arrival {
  const byItem = new Map<string, MadeChange[]>();
  for (const m of made) {
    let list = byItem.get(m.item);
    if (!list) byItem.set(m.item, (list = []));
    list.push(m);
  }
  const latency = new Map<MadeChange, number>();
  let unmatched = 0;
  for (const a of [...arrived].sort((x, y) => x.at - y.at)) {
    const list = byItem.get(a.item);
    // a delete includes everything made to the item; otherwise up to the version applied
    const upTo = !list ? -1 : a.op === 'd' ? list.length - 1 : list.findIndex((m) => m.version === a.version);
    if (upTo < 0) {
      unmatched++;
      continue;
    }
    for (let i = 0; i <= upTo; i++) if (!latency.has(list![i]) && list![i].time <= a.at) latency.set(list![i], a.at - list![i].time);
  }
  const arrivedItems = new Set(arrived.map((a) => a.item));
  const latenciesMs: number[] = [];
  const lost: MadeChange[] = [];
  let superseded = 0;
  for (const m of made) {
    const l = latency.get(m);
    const history = byItem.get(m.item)!;
    if (l !== undefined) latenciesMs.push(l);
    else if (history[0].op === 'c' && history[history.length - 1].op === 'd' && !arrivedItems.has(m.item)) superseded++;
    else lost.push(m);
  }
  return { latenciesMs, lost, superseded, unmatched };
}

/** Nearest-rank percentile of unsorted values (NaN for none). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
