import type { ItemFields } from './item-fields.js';

/**
 * An item's categories once a record's type is written to it: the mapped categories it had
 * give way to the one for the type (Outlook compares names without regard to case); the
 * others stay, in their order.
 */
export function withTypeCategory(current: readonly string[] | undefined, change: NonNullable<ItemFields['typeCategory']>): string[] {
  const replaced = new Set(change.replaces.map((c) => c.toLowerCase()));
  const kept = (current ?? []).filter((c) => !replaced.has(c.toLowerCase()));
  return change.category ? [...kept, change.category] : kept;
}
