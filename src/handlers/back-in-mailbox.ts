import type { MailboxStore } from '../exchange/index.js';
import type { ItemMapping } from './item-mapping.js';

/**
 * Is an item the sync saw deleted in the mailbox again? A deleted item's later changes are
 * late copies — unless the item is back: made public after being skipped as private, out of an
 * excluded category, or brought back (a mailbox restored from backup, a server that lost its
 * last writes). Exchange is asked (a rare path); without it, only a rule's case is known to be back.
 */
export async function backInMailbox(exchange: Pick<MailboxStore, 'getItems'> | undefined, mapping: ItemMapping): Promise<boolean> {
  if (!exchange) return mapping.deletedBy === 'private' || mapping.deletedBy === 'category';
  const [current] = await exchange.getItems(mapping.mailbox, mapping.folder ?? 'calendar', [mapping.itemId]);
  return !!current?.item && !current.missing;
}
