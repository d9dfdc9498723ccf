import { childNamed, type XmlElement } from '../../shared/safe-xml.js';
import { parseDateTime } from '../../shared/time-zones.js';
import { EwsFault, EwsResponseError, perElement, resolveFolder, type EwsContext } from '../ews-context.js';
import { writeItem, writeOccurrence } from '../item-xml.js';
import { readShape } from '../item-shape.js';
import type { StoredItem } from '../mailbox-store.js';
import { expandOccurrences, type Occurrence } from '../recurrence.js';
import { operationResponse, responseMessage } from '../soap.js';
import { wrap } from '../xml-writer.js';
import { compileRestriction, restrictionValueOf } from './restriction.js';

interface Row {
  item: StoredItem;
  occurrence?: Occurrence;
  start: number;
}

const MIN_TIME = Date.UTC(1601, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

/** An xs:int attribute of a paging element, at least `min`, or the schema fault Exchange gives. */
function intAttribute(element: XmlElement, name: string, min: number): number {
  const text = element.attrs[name]!.trim();
  const n = /^[+-]?\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > 2_147_483_647) {
    throw new EwsFault('ErrorSchemaValidation', `The request failed schema validation: The '${name}' attribute is invalid - The value '${text}' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:int'${Number.isInteger(n) ? ` (at least ${min})` : ''}.`);
  }
  return n;
}

/** FindItem with CalendarView (recurrences expanded), IndexedPageItemView, Restriction and SortOrder. */
export function findItem(ctx: EwsContext): string {
  const shape = readShape(childNamed(ctx.body, 'ItemShape'));
  const parents = childNamed(ctx.body, 'ParentFolderIds')?.children ?? [];
  const calendarView = childNamed(ctx.body, 'CalendarView');
  const indexedView = childNamed(ctx.body, 'IndexedPageItemView');
  const restrictionElement = childNamed(ctx.body, 'Restriction');
  const sortOrder = childNamed(ctx.body, 'SortOrder')?.children[0];
  const messages = perElement(
    parents,
    (ref) => {
      const folder = resolveFolder(ctx, ref);
      const predicate = restrictionElement ? compileRestriction(restrictionElement) : () => true;
      if (calendarView && restrictionElement) throw new EwsResponseError('ErrorInvalidRestriction', 'Restrictions are not supported with a CalendarView.');
      const items = ctx.store.itemsIn(ctx.mailbox, folder).filter(predicate);
      let rows: Row[];
      if (calendarView) {
        const from = parseDateTime(calendarView.attrs.StartDate ?? '', ctx.zone);
        const to = parseDateTime(calendarView.attrs.EndDate ?? '', ctx.zone);
        // both are required xs:dateTime attributes; Exchange's store keeps years 1601 to 9999
        if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to) || from < MIN_TIME || to > MAX_TIME) throw new EwsFault('ErrorSchemaValidation', `The request failed schema validation: CalendarView StartDate and EndDate must be dates from 1601 to 9999.`);
        if (to < from) throw new EwsResponseError('ErrorCalendarEndDateIsEarlierThanStartDate', 'EndDate is earlier than StartDate');
        rows = [];
        for (const item of items) {
          if (item.kind !== 'CalendarItem') continue;
          if (item.props.Recurrence !== undefined) {
            for (const o of expandOccurrences(item, to)) if (o.end > from && o.start < to) rows.push({ item, occurrence: o, start: o.start });
          } else {
            const start = parseDateTime(String(item.props.Start ?? '')) ?? 0;
            const end = parseDateTime(String(item.props.End ?? '')) ?? start;
            if (end > from && start < to) rows.push({ item, start });
            else if (start === end && start >= from && start < to) rows.push({ item, start });
          }
        }
        rows.sort((a, b) => a.start - b.start);
      } else {
        rows = items.map((item) => ({ item, start: parseDateTime(String(item.props.Start ?? '')) ?? item.created }));
        if (sortOrder) {
          const path = sortOrder.children[0];
          const direction = sortOrder.attrs.Order === 'Descending' ? -1 : 1;
          rows.sort((a, b) => direction * (restrictionValueOf(a.item, path) ?? '').localeCompare(restrictionValueOf(b.item, path) ?? ''));
        } else {
          rows.sort((a, b) => b.item.created - a.item.created);
        }
      }
      const total = rows.length;
      let offset = 0;
      let max = total;
      if (calendarView?.attrs.MaxEntriesReturned) max = intAttribute(calendarView, 'MaxEntriesReturned', 1);
      if (indexedView) {
        max = indexedView.attrs.MaxEntriesReturned ? intAttribute(indexedView, 'MaxEntriesReturned', 1) : total;
        offset = indexedView.attrs.Offset ? intAttribute(indexedView, 'Offset', 0) : 0;
        if (indexedView.attrs.BasePoint === 'End') offset = Math.max(0, total - offset - max);
      }
      const page = rows.slice(offset, offset + max);
      const xml = page.map((r) => (r.occurrence ? writeOccurrence(ctx.mailbox, r.item, r.occurrence, shape) : writeItem(ctx.mailbox, r.item, shape))).join('');
      const includesLast = offset + page.length >= total;
      return responseMessage('FindItem', wrap('m:RootFolder', wrap('t:Items', xml), {
        IndexedPagingOffset: calendarView ? undefined : offset + page.length,
        TotalItemsInView: total,
        IncludesLastItemInRange: String(includesLast),
      }));
    },
    (err) => responseMessage('FindItem', '', { code: err.code, text: err.message }),
  );
  return operationResponse('FindItem', messages);
}
