import type { FetchedItem } from '../exchange/index.js';
import type { ItemFields } from '../shared/item-fields.js';
import { batchError, type BatchPart, type GraphHttp } from './graph-http.js';

/** Items by id in $batch requests of 20, normalised; a 404 is an item deleted since. */
export async function readBatch<T>(http: GraphHttp, itemIds: readonly string[], partOf: (id: string) => BatchPart | Promise<BatchPart>, fieldsOf: (body: T) => ItemFields): Promise<FetchedItem[]> {
  if (!itemIds.length) return [];
  const parts = await Promise.all(itemIds.map(partOf));
  const answers = await http.batch(parts);
  return itemIds.map((itemId, i) => {
    const a = answers[i];
    if (a.status === 404) return { itemId, missing: true as const };
    const err = batchError(parts[i], a);
    if (err) throw err;
    return { itemId, item: fieldsOf(a.body as T) };
  });
}
