import { graphRecurrenceOf, patternOfGraph, type GraphRecurrence } from '../shared/graph-recurrence.js';
import type { Attendee, ItemFields, Recurrence } from '../shared/item-fields.js';
import { withTypeCategory } from '../shared/type-category.js';
import { fromRrule, toRrule } from '../shared/rrule.js';
import { formatUtc, ianaFromWindows, instantOfWallClock, isIanaZone, parseDateTime, wallClockAt, windowsFromIana } from '../shared/time-zones.js';
import { GraphApiError } from './graph-error.js';

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
  readonly isReminderOn?: boolean;
  readonly reminderMinutesBeforeStart?: number;
  readonly iCalUId?: string | null;
  readonly lastModifiedDateTime?: string;
  readonly createdDateTime?: string;
  readonly type?: string;
  readonly organizer?: { readonly emailAddress?: { readonly address?: string } } | null;
  /** Whether the mailbox organised it (its attendees' copies are theirs). */
  readonly isOrganizer?: boolean;
  readonly attendees?: ReadonlyArray<{ readonly type?: string; readonly emailAddress?: { readonly name?: string; readonly address?: string } }>;
  readonly singleValueExtendedProperties?: ReadonlyArray<{ readonly id: string; readonly value: string }>;
  readonly recurrence?: GraphRecurrence | null;
  /** A series' deleted occurrences: "OID.<series id>.<date in the series' zone>". */
  readonly cancelledOccurrences?: readonly string[];
  /** $expand=exceptionOccurrences: a series' modified occurrences. */
  readonly exceptionOccurrences?: readonly GraphEvent[];
  readonly seriesMasterId?: string | null;
  readonly originalStart?: string | null;
}

/** A Windows or IANA zone name (or UTC) as an IANA zone; undefined for one not known. */
const ianaOf = (zone: string | null | undefined): string | undefined =>
  !zone || zone === 'UTC' || zone === 'tzone://Microsoft/Utc' ? 'UTC' : ianaFromWindows(zone) ?? (isIanaZone(zone) ? zone : undefined);

/**
 * A series' recurrence as the envelope's: the RRULE of its pattern, its cancelled occurrences
 * as EXDATEs (their original start: the date named, at the series' time of day in its zone)
 * and its exceptions. Undefined for a pattern the sync cannot read.
 */
function recurrenceOfEvent(e: GraphEvent, start: string | undefined): Recurrence | undefined {
  const pattern = patternOfGraph(e.recurrence);
  if (typeof pattern === 'string' || !start) return undefined;
  const zone = ianaOf(e.recurrence?.range.recurrenceTimeZone) ?? ianaOf(e.originalStartTimeZone) ?? 'UTC';
  const time = wallClockAt(Date.parse(start), zone);
  const exdates = (e.cancelledOccurrences ?? []).flatMap((oid) => {
    const m = /\.(\d{4})-(\d\d)-(\d\d)$/.exec(oid);
    return m ? [formatUtc(instantOfWallClock({ ...time, year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) }, zone))] : [];
  });
  const exceptions = (e.exceptionOccurrences ?? []).flatMap((x) => {
    const s = utcOf(x.start);
    const end = utcOf(x.end);
    if (!x.originalStart || !s || !end) return [];
    return [{ originalStart: formatUtc(Date.parse(x.originalStart)), start: s, end, ...(x.subject !== undefined && x.subject !== null ? { subject: x.subject } : {}), ...(x.location?.displayName !== undefined ? { location: x.location.displayName } : {}) }];
  });
  return { rrule: toRrule(pattern), exdates: exdates.sort(), exceptions };
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
  if (e.isReminderOn === false) fields.reminder = null;
  else if (e.isReminderOn === true) fields.reminder = e.reminderMinutesBeforeStart ?? 15;
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
  fields.recurrence = e.type === 'seriesMaster' ? recurrenceOfEvent(e, fields.start) ?? null : null;
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

/** The calendar date (YYYY-MM-DD) of an instant in a zone: where a series' range starts. */
export function dateIn(utc: string, iana: string | undefined): string {
  const w = wallClockAt(Date.parse(utc), iana ?? 'UTC');
  return `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

/** A series' RRULE as Graph's patternedRecurrence, starting on the series' first day in its zone. */
export function graphRecurrenceOfFields(f: ItemFields): GraphRecurrence | undefined {
  if (!f.recurrence?.rrule || !f.start) return undefined;
  const windowsZone = (f.timeZone ? windowsFromIana(f.timeZone) : undefined) ?? f.timeZoneWindows ?? 'UTC';
  const iana = f.timeZone ?? ianaFromWindows(windowsZone);
  const pattern = fromRrule(f.recurrence.rrule, dateIn(f.start, iana));
  if (!pattern) throw new GraphApiError(400, 'ErrorUnsupportedRecurrence', `Microsoft Graph cannot express the recurrence rule ${f.recurrence.rrule}`);
  return graphRecurrenceOf(pattern, windowsZone);
}

/**
 * The synced fields as an event body (POST or PATCH). Attendees are never written (Graph would
 * send meeting requests). A series' pattern is written with `recurrence`; its deleted and
 * modified occurrences are the store's to write, one by one.
 */
export function eventBodyOf(f: ItemFields, options: { recurrence?: boolean; keep?: ReadonlySet<keyof ItemFields>; categories?: readonly string[] } = { recurrence: true }): Record<string, unknown> {
  const body = allEventFields(f, options.recurrence ?? false);
  // the record's type as a category: the event's categories (as read), the mapped ones replaced
  if (f.typeCategory) body.categories = withTypeCategory(options.categories, f.typeCategory);
  // what the update keeps is not sent: a PATCH leaves what it does not name
  const keep = options.keep;
  if (keep?.has('subject')) delete body.subject;
  if (keep?.has('body')) delete body.body;
  if (keep?.has('private')) delete body.sensitivity;
  if (keep?.has('location')) delete body.location;
  if (keep?.has('reminder')) for (const k of ['isReminderOn', 'reminderMinutesBeforeStart']) delete body[k];
  if (keep?.has('start')) for (const k of ['start', 'end', 'isAllDay', 'recurrence']) delete body[k];
  return body;
}

function allEventFields(f: ItemFields, withRecurrence: boolean): Record<string, unknown> {
  const windowsZone = (f.timeZone ? windowsFromIana(f.timeZone) : undefined) ?? f.timeZoneWindows ?? 'UTC';
  const iana = f.timeZone ?? ianaFromWindows(windowsZone);
  const body: Record<string, unknown> = {
    subject: f.subject ?? '',
    sensitivity: f.private ? 'private' : 'normal',
    isAllDay: f.allDay ?? false,
    location: { displayName: f.location ?? '' },
  };
  if (f.body !== undefined) body.body = { contentType: 'text', content: f.body };
  if (f.reminder !== undefined) {
    body.isReminderOn = f.reminder !== null;
    if (f.reminder !== null) body.reminderMinutesBeforeStart = f.reminder;
  }
  if (f.start) body.start = dateTimeTimeZone(f.start, windowsZone, iana);
  if (f.end) body.end = dateTimeTimeZone(f.end, windowsZone, iana);
  if (withRecurrence) {
    const recurrence = graphRecurrenceOfFields(f);
    if (recurrence) body.recurrence = recurrence;
  }
  return body;
}
