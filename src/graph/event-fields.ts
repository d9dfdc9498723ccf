import type { Attendee, ItemFields } from '../shared/item-fields.js';
import { formatUtc, ianaFromWindows, isIanaZone, parseDateTime, wallClockAt, windowsFromIana } from '../shared/time-zones.js';
import { notOverGraph } from './graph-error.js';

/**
 * The stamp: the same named property the EWS side writes (PropertySetId c11ff724…, name
 * ExchangeCrmSyncId), so an item stamped over EWS is recognised over Graph and the reverse.
 */
export const STAMP_PROPERTY_ID = 'String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name ExchangeCrmSyncId';

/** A Graph event as far as the sync reads it (v1.0 `event`). */
export interface GraphEvent {
  readonly id: string;
  readonly changeKey?: string;
  readonly '@odata.etag'?: string;
  readonly '@removed'?: { readonly reason: string };
  readonly subject?: string | null;
  readonly body?: { readonly contentType?: string; readonly content?: string } | null;
  readonly start?: { readonly dateTime: string; readonly timeZone?: string } | null;
  readonly end?: { readonly dateTime: string; readonly timeZone?: string } | null;
  readonly originalStartTimeZone?: string | null;
  readonly isAllDay?: boolean;
  readonly sensitivity?: string;
  readonly categories?: readonly string[];
  readonly location?: { readonly displayName?: string } | null;
  readonly iCalUId?: string | null;
  readonly lastModifiedDateTime?: string;
  readonly createdDateTime?: string;
  readonly type?: string;
  readonly organizer?: { readonly emailAddress?: { readonly address?: string } } | null;
  readonly attendees?: ReadonlyArray<{ readonly type?: string; readonly emailAddress?: { readonly name?: string; readonly address?: string } }>;
  readonly singleValueExtendedProperties?: ReadonlyArray<{ readonly id: string; readonly value: string }>;
}

const ATTENDEE_ROLE: Record<string, Attendee['role']> = { required: 'required', optional: 'optional', resource: 'resource' };

/** A dateTimeTimeZone as UTC ISO (whole seconds, as the EWS side gives them). */
export function utcOf(value: { dateTime: string; timeZone?: string } | null | undefined): string | undefined {
  if (!value?.dateTime) return undefined;
  const zone = !value.timeZone || value.timeZone === 'UTC' ? 'UTC' : ianaFromWindows(value.timeZone) ?? (isIanaZone(value.timeZone) ? value.timeZone : 'UTC');
  const ms = parseDateTime(value.dateTime, zone);
  return ms === undefined ? undefined : formatUtc(ms);
}

/** A Graph event as the envelope's normalised fields. */
export function fieldsOfEvent(e: GraphEvent): ItemFields {
  const fields: ItemFields = { itemId: e.id, folder: 'calendar', version: e.changeKey };
  fields.subject = e.subject ?? '';
  if (e.body?.content) fields.body = e.body.content;
  if (e.lastModifiedDateTime) fields.modified = formatUtc(Date.parse(e.lastModifiedDateTime));
  fields.private = e.sensitivity === 'private' || e.sensitivity === 'confidential';
  if (e.categories?.length) fields.categories = [...e.categories];
  const stamp = e.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === STAMP_PROPERTY_ID.toLowerCase());
  if (stamp) fields.crmId = stamp.value;
  fields.start = utcOf(e.start);
  fields.end = utcOf(e.end);
  fields.allDay = e.isAllDay ?? false;
  if (e.location?.displayName) fields.location = e.location.displayName;
  if (e.iCalUId) fields.iCalUid = e.iCalUId;
  if (e.originalStartTimeZone && e.originalStartTimeZone !== 'tzone://Microsoft/Utc') {
    fields.timeZoneWindows = e.originalStartTimeZone;
    const iana = e.originalStartTimeZone === 'UTC' ? 'UTC' : ianaFromWindows(e.originalStartTimeZone);
    if (iana) fields.timeZone = iana;
  }
  const organizer = e.organizer?.emailAddress?.address;
  if (organizer) fields.organizer = organizer.toLowerCase();
  const people = (e.attendees ?? []).filter((a) => a.emailAddress?.address).map((a) => ({ email: a.emailAddress!.address!.toLowerCase(), ...(a.emailAddress?.name ? { name: a.emailAddress.name } : {}), role: ATTENDEE_ROLE[a.type ?? 'required'] ?? 'required' }));
  if (people.length) fields.attendees = people;
  fields.recurrence = null;
  for (const key of Object.keys(fields) as Array<keyof ItemFields>) if (fields[key] === undefined) delete fields[key];
  return fields;
}

/** A time as Graph takes it: the wall clock in the item's zone, named (so the event keeps its zone). */
function dateTimeTimeZone(utc: string, windowsZone: string, iana: string | undefined): { dateTime: string; timeZone: string } {
  const ms = Date.parse(utc);
  if (!iana || windowsZone === 'UTC') return { dateTime: formatUtc(ms).replace(/Z$/, ''), timeZone: 'UTC' };
  const w = wallClockAt(ms, iana);
  const pad = (n: number, l = 2): string => String(n).padStart(l, '0');
  return { dateTime: `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`, timeZone: windowsZone };
}

/**
 * The synced fields as an event body (POST or PATCH). Attendees are never written (Graph would
 * send meeting requests); a series cannot be written over Graph yet and is refused by name.
 */
export function eventBodyOf(f: ItemFields): Record<string, unknown> {
  if (f.recurrence?.rrule) throw notOverGraph('a recurring appointment');
  const windowsZone = (f.timeZone ? windowsFromIana(f.timeZone) : undefined) ?? f.timeZoneWindows ?? 'UTC';
  const iana = f.timeZone ?? ianaFromWindows(windowsZone);
  const body: Record<string, unknown> = {
    subject: f.subject ?? '',
    sensitivity: f.private ? 'private' : 'normal',
    isAllDay: f.allDay ?? false,
    location: { displayName: f.location ?? '' },
  };
  if (f.body !== undefined) body.body = { contentType: 'text', content: f.body };
  if (f.start) body.start = dateTimeTimeZone(f.start, windowsZone, iana);
  if (f.end) body.end = dateTimeTimeZone(f.end, windowsZone, iana);
  return body;
}
