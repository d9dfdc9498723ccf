import type { MailboxPositionKind } from '../exchange/index.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/index.js';

/** The kind of position a mailbox is read with now (its protocol: EWS, or Graph once it moved). */
export type PositionKindOf = (mailbox: string) => Promise<MailboxPositionKind>;

/**
 * A change read through the protocol a mailbox has since moved away from (it waited in the log
 * while the move renamed the mappings to the new protocol's ids): its item id is the old
 * protocol's, so it would look like a new item. Skipped — the new protocol's first read lists
 * every item as it is now. Asked only for an item without a mapping (a rare path).
 */
export async function readBeforeMove(positionKindOf: PositionKindOf | undefined, mailbox: string, envelope: ChangeEnvelope, logger: Logger): Promise<boolean> {
  const read = envelope.position?.kind;
  if (!positionKindOf || (read !== 'ews-syncstate' && read !== 'graph-delta')) return false;
  const now = await positionKindOf(mailbox);
  if (now === read) return false;
  logger.info({ mailbox, itemId: envelope.subject, read, now, event: 'to-crm.read-before-move' }, `${mailbox}: a change read over ${read === 'ews-syncstate' ? 'EWS' : 'Graph'} before the mailbox moved is skipped; the first read over ${now === 'graph-delta' ? 'Microsoft Graph' : 'EWS'} carries the item as it is now`);
  return true;
}
