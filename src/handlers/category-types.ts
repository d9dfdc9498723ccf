import type { ItemFields } from '../shared/item-fields.js';

/** Outlook categories that stand for CRM appointment or task types (<sync><category outlook crm>), in the file's order. */
export type CategoryTypes = ReadonlyArray<{ readonly outlook: string; readonly crm: string }>;

/** The CRM type an item's categories stand for: the first pair (in the file's order) the item has; undefined when it has none. */
export function crmTypeOf(categories: readonly string[] | undefined, map: CategoryTypes): string | undefined {
  const has = new Set((categories ?? []).map((c) => c.toLowerCase()));
  return map.find((t) => has.has(t.outlook.toLowerCase()))?.crm;
}

/** Whether a CRM type is one a category stands for. */
export const isMappedType = (crmType: string | undefined, map: CategoryTypes): boolean =>
  crmType !== undefined && map.some((t) => t.crm.toLowerCase() === crmType.toLowerCase());

/**
 * The type to write to the CRM for an item: its mapped category's; with none, the CRM's default
 * ('') only where the record has a mapped type (the item lost its category) — a type the
 * mapping does not name, set in the CRM, stays; a new record gets the CRM's default anyway.
 */
export function typeToWrite(categories: readonly string[] | undefined, map: CategoryTypes, record?: { readonly crmType?: string }): string | undefined {
  if (!map.length) return undefined;
  const mapped = crmTypeOf(categories, map);
  if (mapped !== undefined) return mapped;
  return record && isMappedType(record.crmType, map) ? '' : undefined;
}

/** What writing a record of this type does to the item's categories: the type's category in place of the mapped ones. */
export function typeCategoryOf(crmType: string, map: CategoryTypes): NonNullable<ItemFields['typeCategory']> {
  const wanted = crmType.toLowerCase();
  return { category: map.find((t) => t.crm.toLowerCase() === wanted)?.outlook ?? null, replaces: map.map((t) => t.outlook) };
}
