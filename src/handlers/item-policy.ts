import type { PrivateItems } from '../config/index.js';
import type { ItemFields } from '../shared/item-fields.js';

/** The rules that decide what of an Outlook item reaches the CRM. */
export interface ItemPolicy {
  readonly private: PrivateItems;
  readonly categories?: { readonly include: readonly string[]; readonly exclude: readonly string[] };
}

/** What an item brings to the CRM: itself, nothing (and the rule that says so), or a blocker. */
export type ItemVerdict = { readonly action: 'sync' } | { readonly action: 'hide'; readonly rule: 'private' | 'category' } | { readonly action: 'blocker' };

const SYNC: ItemVerdict = { action: 'sync' };
/** The blocker's title: Outlook shows other people a private item's time as "Private" too. */
export const BLOCKER_TITLE = 'Private';

/** Outlook compares category names without regard to case. */
const has = (categories: readonly string[] | undefined, names: readonly string[]): boolean => {
  if (!categories?.length || !names.length) return false;
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  return categories.some((c) => wanted.has(c.toLowerCase()));
};

/** The verdict for an item's fields: categories first (an excluded item is not even a blocker), then privacy. */
export function verdictOf(fields: { readonly categories?: readonly string[]; readonly private?: boolean }, policy: ItemPolicy): ItemVerdict {
  const { include = [], exclude = [] } = policy.categories ?? {};
  if (has(fields.categories, exclude) || (include.length > 0 && !has(fields.categories, include))) return { action: 'hide', rule: 'category' };
  if (fields.private) {
    if (policy.private === 'skip') return { action: 'hide', rule: 'private' };
    if (policy.private === 'busy') return { action: 'blocker' };
  }
  return SYNC;
}

/**
 * A private item as the CRM sees it under private="busy": when it is (a series' occurrences
 * too, without their own subjects and places), "Private" as the title, and nothing else.
 */
export function blockerOf(item: ItemFields): ItemFields {
  const { start, end, timeZone, timeZoneWindows, allDay, due, recurrence, version, modified } = item;
  const blocker: ItemFields = { subject: BLOCKER_TITLE, private: true, start, end, timeZone, timeZoneWindows, allDay, due, version, modified };
  if (recurrence) blocker.recurrence = { ...recurrence, exceptions: recurrence.exceptions.map(({ originalStart, start: s, end: e }) => ({ originalStart, start: s, end: e })) };
  for (const k of Object.keys(blocker) as Array<keyof ItemFields>) if (blocker[k] === undefined) delete blocker[k];
  return blocker;
}
