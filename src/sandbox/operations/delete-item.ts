import { childNamed } from '../../shared/safe-xml.js';
import { perElement, requireOccurrence, resolveItem, type EwsContext } from '../ews-context.js';
import { checkMeetingMessages } from '../meeting-messages.js';
import { occurrenceAt } from '../recurrence.js';
import { operationResponse, responseMessage } from '../soap.js';

/** DeleteItem: HardDelete/SoftDelete → DeletedEvent; MoveToDeletedItems → MovedEvent, as Exchange. */
export function deleteItem(ctx: EwsContext): string {
  const deleteType = ctx.body.attrs.DeleteType ?? 'MoveToDeletedItems';
  const ids = childNamed(ctx.body, 'ItemIds')?.children ?? [];
  const messages = perElement(
    ids,
    (ref) => {
      const { item, occurrenceIndex } = resolveItem(ctx, ref);
      if (item.kind === 'CalendarItem') checkMeetingMessages(ctx, 'delete', item.props);
      if (occurrenceIndex !== undefined) {
        const occurrence = requireOccurrence((i) => occurrenceAt(item, i), occurrenceIndex);
        (item.deletedOccurrences ??= new Set()).add(occurrence.originalStart);
        item.modifiedOccurrences?.delete(occurrence.originalStart);
        ctx.store.touch(ctx.mailbox, item);
      } else if (deleteType === 'MoveToDeletedItems' && item.folder !== 'deleteditems') {
        ctx.store.moveItem(ctx.mailbox, item, 'deleteditems');
      } else {
        ctx.store.deleteItem(ctx.mailbox, item);
      }
      return responseMessage('DeleteItem', '');
    },
    (err) => responseMessage('DeleteItem', '', { code: err.code, text: err.message }),
  );
  return operationResponse('DeleteItem', messages);
}
