import ews from 'ews-javascript-api';
import type { Attendee, ItemFields } from '../shared/item-fields.js';
import { toRrule, type RecurrencePattern } from '../shared/rrule.js';
import { ianaFromWindows } from '../shared/time-zones.js';
import { contactCardOf } from './contact-fields.js';

/** The extended property the sync stamps on items it writes: the CRM record's id. */
export const CRM_ID_PROPERTY = new ews.ExtendedPropertyDefinition(new ews.Guid('c11ff724-aa03-4555-9952-8fa248a11c3e'), 'ExchangeCrmSyncId', ews.MapiPropertyType.String);

/** A library DateTime as UTC ISO 8601 (whole seconds without the fraction, as Exchange writes them). */
export const isoOf = (d: ews.DateTime | null | undefined): string | undefined => (d ? new Date(d.TotalMilliSeconds).toISOString().replace('.000Z', 'Z') : undefined);
const iso = isoOf;
const date = (d: ews.DateTime | null | undefined): string | undefined => iso(d)?.slice(0, 10);

/** The items of one of the library's collections (Count + _getItem). */
export function itemsOf<T>(c: { Count: number; _getItem(i: number): T } | undefined): T[] {
  return c ? Array.from({ length: c.Count }, (_, i) => c._getItem(i)) : [];
}

/** Reads a property that may not have been loaded (the library throws then). */
export function read<T>(get: () => T): T | undefined {
  try {
    const v = get();
    return v === null ? undefined : v;
  } catch {
    return undefined;
  }
}

export function patternOf(r: ews.Recurrence): RecurrencePattern | undefined {
  const R = ews.Recurrence;
  const interval = (r as unknown as { Interval?: number }).Interval ?? 1;
  const range = { startDate: date(r.StartDate) ?? '', count: r.HasEnd && r.NumberOfOccurrences ? r.NumberOfOccurrences : undefined, until: r.HasEnd && !r.NumberOfOccurrences ? date(r.EndDate) : undefined };
  if (r instanceof R.DailyPattern) return { kind: 'daily', interval, ...range };
  if (r instanceof R.WeeklyPattern) {
    const d = r.DaysOfTheWeek;
    return { kind: 'weekly', interval, daysOfWeek: Array.from({ length: d.Count }, (_, i) => d._getItem(i) as number), firstDayOfWeek: r.FirstDayOfWeek as number, ...range };
  }
  if (r instanceof R.MonthlyPattern) return { kind: 'absoluteMonthly', interval, dayOfMonth: r.DayOfMonth, ...range };
  if (r instanceof R.RelativeMonthlyPattern) return { kind: 'relativeMonthly', interval, daysOfWeek: [r.DayOfTheWeek as number], weekIndex: r.DayOfTheWeekIndex as number, ...range };
  if (r instanceof R.YearlyPattern) return { kind: 'absoluteYearly', interval: 1, month: r.Month as number, dayOfMonth: r.DayOfMonth, ...range };
  if (r instanceof R.RelativeYearlyPattern) return { kind: 'relativeYearly', interval: 1, month: r.Month as number, daysOfWeek: [r.DayOfTheWeek as number], weekIndex: r.DayOfTheWeekIndex as number, ...range };
  return undefined;
}

function attendees(list: ews.AttendeeCollection | undefined, role: Attendee['role']): Attendee[] {
  if (!list) return [];
  return itemsOf(list).filter((a) => a.Address).map((a) => ({ email: a.Address.toLowerCase(), name: a.Name || undefined, role }));
}

/** An EWS item as the envelope's normalised fields. */
export function normaliseItem(item: ews.Item, folder: string): ItemFields {
  const fields: ItemFields = { itemId: item.Id.UniqueId, folder, version: item.Id.ChangeKey ?? undefined };
  fields.subject = read(() => item.Subject) ?? '';
  const body = read(() => item.Body);
  if (body?.Text) fields.body = body.Text;
  fields.modified = iso(read(() => item.LastModifiedTime));
  const sensitivity = read(() => item.Sensitivity);
  fields.private = sensitivity === ews.Sensitivity.Private || sensitivity === ews.Sensitivity.Confidential;
  const categories = read(() => item.Categories);
  if (categories && categories.Count) fields.categories = categories.GetEnumerator();
  for (const p of itemsOf(read(() => item.ExtendedProperties))) {
    if (p.PropertyDefinition.Name === CRM_ID_PROPERTY.Name && String(p.PropertyDefinition.PropertySetId?.ToString?.() ?? '').toLowerCase().includes('c11ff724')) fields.crmId = String(p.Value);
  }
  if (item instanceof ews.Appointment) {
    fields.start = iso(read(() => item.Start));
    fields.end = iso(read(() => item.End));
    fields.allDay = read(() => item.IsAllDayEvent) ?? false;
    fields.location = read(() => item.Location) ?? undefined;
    const reminderSet = read(() => item.IsReminderSet);
    if (reminderSet === false) fields.reminder = null;
    else if (reminderSet === true) fields.reminder = read(() => item.ReminderMinutesBeforeStart) ?? 15;
    fields.iCalUid = read(() => item.ICalUid) ?? undefined;
    const zone = read(() => item.StartTimeZone)?.Id;
    if (zone) {
      fields.timeZoneWindows = zone;
      // a zone no table knows keeps its Windows id (written back as it came), never UTC
      const iana = ianaFromWindows(zone);
      if (iana) fields.timeZone = iana;
    }
    const organizer = read(() => item.Organizer)?.Address;
    if (organizer) fields.organizer = organizer.toLowerCase();
    const people = [...attendees(read(() => item.RequiredAttendees), 'required'), ...attendees(read(() => item.OptionalAttendees), 'optional'), ...attendees(read(() => item.Resources), 'resource')];
    if (people.length) fields.attendees = people;
    const recurrence = read(() => item.Recurrence);
    const pattern = recurrence ? patternOf(recurrence) : undefined;
    if (pattern) {
      const deleted = itemsOf(read(() => item.DeletedOccurrences));
      const modified = itemsOf(read(() => item.ModifiedOccurrences));
      fields.recurrence = {
        rrule: toRrule(pattern),
        exdates: deleted.map((d) => iso(d.OriginalStart)!).filter(Boolean),
        exceptions: modified.map((o) => ({ originalStart: iso(o.OriginalStart)!, start: iso(o.Start)!, end: iso(o.End)! })),
      };
    } else {
      fields.recurrence = null;
    }
  }
  if (item instanceof ews.Task) {
    fields.due = iso(read(() => item.DueDate));
    fields.start = iso(read(() => item.StartDate));
    const status = read(() => item.Status);
    if (status !== undefined) fields.status = ews.TaskStatus[status];
    fields.percentComplete = read(() => item.PercentComplete);
    fields.done = read(() => item.IsComplete) ?? status === ews.TaskStatus.Completed;
  }
  if (item instanceof ews.Contact) fields.contact = contactCardOf(item);
  for (const key of Object.keys(fields) as Array<keyof ItemFields>) if (fields[key] === undefined) delete fields[key];
  return fields;
}
