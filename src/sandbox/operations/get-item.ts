import { childNamed } from '../../shared/safe-xml.js';
import { perElement, requireOccurrence, resolveItem, type EwsContext } from '../ews-context.js';
import { writeItem, writeOccurrence } from '../item-xml.js';
import { readShape } from '../item-shape.js';
import { occurrenceAt } from '../recurrence.js';
import { operationResponse, responseMessage } from '../soap.js';
import { wrap } from '../xml-writer.js';

/** GetItem: many ids per request, one response message per id, in request order. */
export function getItem(ctx: EwsContext): string {
  const shape = readShape(childNamed(ctx.body, 'ItemShape'));
  const ids = childNamed(ctx.body, 'ItemIds')?.children ?? [];
  const messages = perElement(
    ids,
    (ref) => {
      const { item, occurrenceIndex } = resolveItem(ctx, ref);
      if (occurrenceIndex !== undefined) {
        const occurrence = requireOccurrence((i) => occurrenceAt(item, i), occurrenceIndex);
        return responseMessage('GetItem', wrap('m:Items', writeOccurrence(ctx.mailbox, item, occurrence, shape)));
      }
      return responseMessage('GetItem', wrap('m:Items', writeItem(ctx.mailbox, item, shape)));
    },
    (err) => responseMessage('GetItem', '<m:Items/>', { code: err.code, text: err.message }),
  );
  return operationResponse('GetItem', messages);
}
