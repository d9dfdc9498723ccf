import type { CategoryTypes } from './category-types.js';
import type { SyncedField } from '../config/index.js';

interface Shape {
  readonly held: readonly string[];
  readonly types: ReadonlyArray<readonly [string, string]>;
}

/**
 * What of the policy shapes an item written from its record: the fields kept from the item
 * (not carried towards Exchange) and the category ↔ type pairs.
 */
export function exchangeShapeOf(held: readonly SyncedField[], types: CategoryTypes): string {
  const shape: Shape = { held: [...held].sort(), types: types.map((t) => [t.outlook.toLowerCase(), t.crm.toLowerCase()] as const) };
  return JSON.stringify(shape);
}

/**
 * The item is to be written from its record again, though it has the record's version: a field
 * it was written without now travels towards Exchange, or the pairs changed. No saved shape
 * (the mapping was made from the item, or before shapes were kept): nothing is known to differ.
 */
export function releasedSince(saved: string | undefined, now: string): boolean {
  if (saved === undefined || saved === now) return false;
  try {
    const before = JSON.parse(saved) as Shape;
    const after = JSON.parse(now) as Shape;
    return before.held.some((f) => !after.held.includes(f)) || JSON.stringify(before.types) !== JSON.stringify(after.types);
  } catch {
    return true;
  }
}
