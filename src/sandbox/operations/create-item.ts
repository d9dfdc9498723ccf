import { randomUUID } from 'node:crypto';
import { childNamed } from '../../shared/safe-xml.js';
import { formatUtc, parseDateTime } from '../../shared/time-zones.js';
import { EwsResponseError, perElement, resolveFolder, type EwsContext } from '../ews-context.js';
import { ITEM_KINDS, type ItemKind } from '../item-properties.js';
import { checkMeetingMessages } from '../meeting-messages.js';
import { itemIdXml, ItemValueError, readItem } from '../item-xml.js';
import type { PropertyValue } from '../mailbox-store.js';
import { operationResponse, responseMessage } from '../soap.js';
import { wrap } from '../xml-writer.js';

const DEFAULT_FOLDER: Record<ItemKind, string> = { CalendarItem: 'calendar', Task: 'tasks', Contact: 'contacts' };

/** Start/End sanity shared by CreateItem and UpdateItem. */
export function checkTimes(props: Record<string, PropertyValue>): void {
  const start = typeof props.Start === 'string' ? parseDateTime(props.Start) : undefined;
  const end = typeof props.End === 'string' ? parseDateTime(props.End) : undefined;
  if (start !== undefined && end !== undefined && end < start) {
    throw new EwsResponseError('ErrorCalendarEndDateIsEarlierThanStartDate', 'EndDate is earlier than StartDate');
  }
}

export function createItem(ctx: EwsContext): string {
  const savedIn = childNamed(ctx.body, 'SavedItemFolderId')?.children[0];
  const items = childNamed(ctx.body, 'Items')?.children ?? [];
  const messages = perElement(
    items,
    (element) => {
      const kind = element.local as ItemKind;
      if (!ITEM_KINDS.includes(kind)) throw new EwsResponseError('ErrorInvalidRequest', `The sandbox stores CalendarItem, Task and Contact items, not ${element.local}.`);
      const folder = savedIn ? resolveFolder(ctx, savedIn) : DEFAULT_FOLDER[kind];
      let read;
      try {
        read = readItem(element, kind, ctx.zone);
      } catch (err) {
        if (err instanceof ItemValueError) throw new EwsResponseError(err.code, err.message);
        throw err;
      }
      const { props, extended } = read;
      if (kind === 'CalendarItem') {
        const now = formatUtc(ctx.now());
        props.Start ??= now;
        props.End ??= props.Start;
        props.UID ??= `040000008200E00074C5B7101A82E008${randomUUID().replace(/-/g, '').toUpperCase()}`;
        checkTimes(props);
        checkMeetingMessages(ctx, 'create', props);
      }
      if (kind === 'Task') props.Status ??= 'NotStarted';
      const item = ctx.store.createItem(ctx.mailbox, folder, kind, props, extended);
      return responseMessage('CreateItem', wrap('m:Items', wrap(`t:${kind}`, itemIdXml(item))));
    },
    (err) => responseMessage('CreateItem', '<m:Items/>', { code: err.code, text: err.message }),
  );
  return operationResponse('CreateItem', messages);
}
