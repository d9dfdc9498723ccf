import { childNamed, childrenNamed, type XmlElement } from '../../shared/safe-xml.js';
import { graphRecurrenceOf, patternOfGraph } from '../../shared/graph-recurrence.js';
import { formatUtc, ianaFromWindows, isIanaZone, parseDateTime, wallClockAt, windowsFromIana } from '../../shared/time-zones.js';
import { changeKeyOf, occurrenceIdOf } from '../ids.js';
import { extendedKey } from '../item-shape.js';
import type { ExtendedValue, Mailbox, PropertyValue, StoredItem } from '../mailbox-store.js';
import { expandOccurrences, itemZone, recurrenceProblem, type Occurrence } from '../recurrence.js';
import { graphIdOf, restIdOf } from './graph-ids.js';
import { patternOfXml, xmlOfPattern } from './recurrence-xml.js';

/**
 * A calendar item of the one mailbox store as Microsoft Graph's `event` (v1.0 metadata), and
 * a Graph event body as the store's properties: what EWS wrote, Graph reads, and the reverse.
 */

const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const element = (local: string, text: string, attrs: Record<string, string> = {}, children: XmlElement[] = []): XmlElement => ({ name: `t:${local}`, local, uri: NS_T, attrs, children, text });

/** Graph's JSON error: status, code and message (`{"error":{"code","message"}}`). */
export class GraphError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const SHOW_AS: Record<string, string> = { free: 'Free', tentative: 'Tentative', busy: 'Busy', oof: 'OOF', workingElsewhere: 'WorkingElsewhere', unknown: 'NoData' };
const SENSITIVITY: Record<string, string> = { normal: 'Normal', personal: 'Personal', private: 'Private', confidential: 'Confidential' };
const reverse = (m: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));
const SHOW_AS_OF = reverse(SHOW_AS);
const SENSITIVITY_OF = reverse(SENSITIVITY);

/** Graph writes dateTimeTimeZone without an offset: "2026-12-07T09:00:00.0000000". */
const graphDateTime = (utc: string): string => `${utc.replace(/Z$/, '')}.0000000`;
const text = (v: PropertyValue | undefined): string | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : v.text);

/** The Graph id of an extended property ("String {guid} Name X") from the EWS ExtendedFieldURI it was stored with. */
export function extendedIdOf(uri: XmlElement): string | undefined {
  const a = uri.attrs;
  const type = a.PropertyType ?? 'String';
  if (a.PropertyTag) return `${type} ${a.PropertyTag}`;
  const set = a.PropertySetId ? `{${a.PropertySetId}}` : a.DistinguishedPropertySetId;
  if (!set) return undefined;
  return a.PropertyName !== undefined ? `${type} ${set} Name ${a.PropertyName}` : `${type} ${set} Id ${a.PropertyId ?? ''}`;
}

/** A Graph extended property id as the ExtendedFieldURI EWS would use, and the store's key of it. */
export function extendedUriOf(id: string): { key: string; uri: XmlElement } {
  const named = /^(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+)$/.exec(id.trim());
  const tagged = /^(\w+)\s+(0x[0-9a-fA-F]{1,8})$/.exec(id.trim());
  let attrs: Record<string, string>;
  if (named) attrs = { PropertySetId: named[2].toLowerCase(), [named[3] === 'Name' ? 'PropertyName' : 'PropertyId']: named[3] === 'Id' ? String(Number(named[4])) : named[4], PropertyType: named[1] };
  else if (tagged) attrs = { PropertyTag: tagged[2], PropertyType: tagged[1] };
  else throw new GraphError(400, 'ErrorInvalidProperty', `The extended property id '${id}' is not of the forms '{type} {guid} Name {name}', '{type} {guid} Id {id}' or '{type} {proptag}'.`);
  const uri = element('ExtendedFieldURI', '', attrs);
  return { key: extendedKey(uri), uri };
}

export interface EventOptions {
  /** Extended property ids asked for with $expand=singleValueExtendedProperties($filter=id eq '…'). */
  readonly extended?: readonly string[];
  /** $expand=exceptionOccurrences: a series master's modified occurrences, as instances. */
  readonly exceptions?: boolean;
}

/** An occurrence's Graph id: its EWS OccurrenceItemId made URL-safe, as translateExchangeIds would. */
export const occurrenceGraphIdOf = (item: StoredItem, index: number): string => restIdOf(occurrenceIdOf(item.mailbox, item.seq, index));

/**
 * A deleted occurrence as `cancelledOccurrences` names it: "OID.<series id>.<date>", the date
 * of its original start in the series' time zone.
 */
export function cancelledOccurrenceOf(item: StoredItem, originalStart: number): string {
  const t = wallClockAt(originalStart, itemZone(item));
  return `OID.${graphIdOf(item.mailbox, item.seq)}.${t.year}-${String(t.month).padStart(2, '0')}-${String(t.day).padStart(2, '0')}`;
}

/** One occurrence or exception of a series, as `instances` and calendarView list it. */
export function instanceOf(mailbox: Mailbox, item: StoredItem, o: Occurrence, options: EventOptions = {}): Record<string, unknown> {
  const master = eventOf(mailbox, item, { extended: options.extended });
  const override = item.modifiedOccurrences?.get(o.originalStart)?.props ?? {};
  const id = occurrenceGraphIdOf(item, o.index);
  const location = text(override.Location);
  return {
    ...master,
    id,
    type: o.modified ? 'exception' : 'occurrence',
    seriesMasterId: master.id,
    originalStart: formatUtc(o.originalStart),
    start: { dateTime: graphDateTime(formatUtc(o.start)), timeZone: 'UTC' },
    end: { dateTime: graphDateTime(formatUtc(o.end)), timeZone: 'UTC' },
    ...(text(override.Subject) !== undefined ? { subject: text(override.Subject) } : {}),
    ...(location !== undefined ? { location: { displayName: location, locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} } } : {}),
    recurrence: null,
    cancelledOccurrences: [],
    webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(id)}&exvsurl=1&path=/calendar/item`,
  };
}

/** An event as Graph returns it (times in UTC, as without a Prefer: outlook.timezone header). */
export function eventOf(mailbox: Mailbox, item: StoredItem, options: EventOptions = {}): Record<string, unknown> {
  const p = item.props;
  const changeKey = changeKeyOf(item.version);
  const zoneId = (name: string): string => {
    const z = p[name];
    return typeof z === 'object' && z.attrs.Id ? z.attrs.Id : 'UTC';
  };
  const body = p.Body;
  const bodyType = typeof body === 'object' && body.attrs.BodyType === 'HTML' ? 'html' : 'text';
  const categories = typeof p.Categories === 'object' ? childrenNamed(p.Categories, 'String').map((s) => s.text) : [];
  const start = text(p.Start) ?? formatUtc(item.created);
  const end = text(p.End) ?? start;
  const attendees = (['RequiredAttendees', 'OptionalAttendees', 'Resources'] as const).flatMap((name) => {
    const list = p[name];
    if (typeof list !== 'object') return [];
    return childrenNamed(list, 'Attendee').map((a) => {
      const box = childNamed(a, 'Mailbox');
      return {
        type: name === 'RequiredAttendees' ? 'required' : name === 'OptionalAttendees' ? 'optional' : 'resource',
        status: { response: 'none', time: '0001-01-01T00:00:00Z' },
        emailAddress: { name: childNamed(box ?? a, 'Name')?.text ?? '', address: childNamed(box ?? a, 'EmailAddress')?.text ?? '' },
      };
    });
  });
  const event: Record<string, unknown> = {
    '@odata.etag': `W/"${changeKey}"`,
    id: graphIdOf(mailbox.index, item.seq),
    createdDateTime: new Date(item.created).toISOString(),
    lastModifiedDateTime: new Date(item.modified).toISOString(),
    changeKey,
    categories,
    transactionId: text(item.extended.get(TRANSACTION_KEY)?.value as string | undefined) ?? null,
    originalStartTimeZone: zoneId('StartTimeZone'),
    originalEndTimeZone: zoneId(p.EndTimeZone ? 'EndTimeZone' : 'StartTimeZone'),
    iCalUId: text(p.UID) ?? null,
    reminderMinutesBeforeStart: Number(text(p.ReminderMinutesBeforeStart) ?? 15),
    isReminderOn: text(p.ReminderIsSet) !== 'false',
    hasAttachments: false,
    subject: text(p.Subject) ?? '',
    bodyPreview: (text(body) ?? '').slice(0, 255),
    importance: (text(p.Importance) ?? 'Normal').toLowerCase(),
    sensitivity: SENSITIVITY_OF[text(p.Sensitivity) ?? 'Normal'] ?? 'normal',
    isAllDay: text(p.IsAllDayEvent) === 'true',
    isCancelled: false,
    isOrganizer: true,
    responseRequested: true,
    seriesMasterId: null,
    showAs: SHOW_AS_OF[text(p.LegacyFreeBusyStatus) ?? 'Busy'] ?? 'busy',
    type: 'singleInstance',
    webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(graphIdOf(mailbox.index, item.seq))}&exvsurl=1&path=/calendar/item`,
    onlineMeetingUrl: null,
    isOnlineMeeting: false,
    onlineMeetingProvider: 'unknown',
    allowNewTimeProposals: true,
    isDraft: false,
    hideAttendees: false,
    recurrence: null,
    cancelledOccurrences: [],
    responseStatus: { response: 'organizer', time: '0001-01-01T00:00:00Z' },
    body: { contentType: bodyType, content: text(body) ?? '' },
    start: { dateTime: graphDateTime(start), timeZone: 'UTC' },
    end: { dateTime: graphDateTime(end), timeZone: 'UTC' },
    location: { displayName: text(p.Location) ?? '', locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} },
    locations: text(p.Location) ? [{ displayName: text(p.Location), locationType: 'default', uniqueIdType: 'unknown' }] : [],
    attendees,
    organizer: { emailAddress: { name: mailbox.address.split('@')[0], address: mailbox.address } },
    onlineMeeting: null,
  };
  const pattern = typeof p.Recurrence === 'object' && item.kind === 'CalendarItem' ? patternOfXml(p.Recurrence) : undefined;
  if (pattern) {
    event.type = 'seriesMaster';
    event.recurrence = graphRecurrenceOf(pattern, zoneId('StartTimeZone'));
    event.cancelledOccurrences = [...(item.deletedOccurrences ?? [])].sort((a, b) => a - b).map((s) => cancelledOccurrenceOf(item, s));
    if (options.exceptions) event.exceptionOccurrences = expandOccurrences(item).filter((o) => o.modified).map((o) => instanceOf(mailbox, item, o, options));
  }
  if (options.extended) {
    event.singleValueExtendedProperties = options.extended.flatMap((id) => {
      const stored = item.extended.get(extendedUriOf(id).key);
      return stored && typeof stored.value === 'string' ? [{ id: extendedIdOf(stored.uri) ?? id, value: stored.value }] : [];
    });
  }
  return event;
}

/** Where a create's transactionId is kept with the item (a property only the Graph side reads). */
export const TRANSACTION_KEY = 'sandbox-graph:n:transactionId';
const TRANSACTION_URI = element('ExtendedFieldURI', '', { PropertySetId: 'sandbox-graph', PropertyName: 'transactionId', PropertyType: 'String' });

export function transactionEntry(id: string): [string, ExtendedValue] {
  return [TRANSACTION_KEY, { uri: TRANSACTION_URI, value: id }];
}

/** A dateTimeTimeZone as UTC, and the Windows zone the event keeps (Graph accepts Windows and IANA names). */
function instantOf(name: string, value: unknown): { utc: string; zone?: string } {
  const v = value as { dateTime?: unknown; timeZone?: unknown } | null;
  if (!v || typeof v.dateTime !== 'string') throw new GraphError(400, 'ErrorInvalidRequest', `${name}: a dateTimeTimeZone needs dateTime.`);
  const zoneName = typeof v.timeZone === 'string' && v.timeZone ? v.timeZone : 'UTC';
  const iana = zoneName === 'UTC' ? 'UTC' : ianaFromWindows(zoneName) ?? (isIanaZone(zoneName) ? zoneName : undefined);
  if (!iana) throw new GraphError(400, 'TimeZoneNotSupportedException', `A valid TimeZone value must be specified. The following TimeZone value is not supported: '${zoneName}'.`);
  const ms = parseDateTime(v.dateTime, iana);
  if (ms === undefined) throw new GraphError(400, 'ErrorInvalidRequest', `${name}: '${v.dateTime}' is not a date and time.`);
  const windows = zoneName === 'UTC' ? 'UTC' : ianaFromWindows(zoneName) ? zoneName : windowsFromIana(zoneName);
  return { utc: formatUtc(ms), zone: windows };
}

/**
 * The properties a POST or PATCH body sets (only those it names: a PATCH leaves the rest),
 * and the extended properties it writes. What the sandbox does not serve is refused by name.
 */
export function propsOfEvent(body: Record<string, unknown>): { props: Record<string, PropertyValue>; extended: Map<string, ExtendedValue>; transactionId?: string; clearsRecurrence?: true } {
  const props: Record<string, PropertyValue> = {};
  let clearsRecurrence: true | undefined;
  const extended = new Map<string, ExtendedValue>();
  for (const [key, value] of Object.entries(body)) {
    if (key.startsWith('@odata.')) continue;
    switch (key) {
      case 'subject': props.Subject = String(value ?? ''); break;
      case 'body': {
        const b = value as { contentType?: string; content?: string } | null;
        props.Body = element('Body', String(b?.content ?? ''), { BodyType: b?.contentType?.toLowerCase() === 'html' ? 'HTML' : 'Text' });
        break;
      }
      case 'start':
      case 'end': {
        const { utc, zone } = instantOf(key, value);
        props[key === 'start' ? 'Start' : 'End'] = utc;
        if (zone && zone !== 'UTC') props[key === 'start' ? 'StartTimeZone' : 'EndTimeZone'] = element(key === 'start' ? 'StartTimeZone' : 'EndTimeZone', '', { Id: zone });
        break;
      }
      case 'location': props.Location = String((value as { displayName?: string } | null)?.displayName ?? ''); break;
      case 'isAllDay': props.IsAllDayEvent = String(value === true); break;
      case 'showAs': props.LegacyFreeBusyStatus = SHOW_AS[String(value)] ?? 'Busy'; break;
      case 'sensitivity': props.Sensitivity = SENSITIVITY[String(value)] ?? 'Normal'; break;
      case 'importance': props.Importance = String(value).charAt(0).toUpperCase() + String(value).slice(1); break;
      case 'categories': props.Categories = element('Categories', '', {}, (Array.isArray(value) ? value : []).map((c) => element('String', String(c)))); break;
      case 'reminderMinutesBeforeStart': props.ReminderMinutesBeforeStart = String(Number(value)); break;
      case 'isReminderOn': props.ReminderIsSet = String(value === true); break;
      case 'transactionId': break; // read by the create
      case 'singleValueExtendedProperties':
        for (const entry of Array.isArray(value) ? value : []) {
          const e = entry as { id?: unknown; value?: unknown };
          if (typeof e.id !== 'string') throw new GraphError(400, 'ErrorInvalidProperty', 'singleValueExtendedProperties: each entry needs an id and a value.');
          const { key: k, uri } = extendedUriOf(e.id);
          extended.set(k, { uri, value: String(e.value ?? '') });
        }
        break;
      case 'attendees':
        // Graph would send meeting requests for attendees written here; the sync never writes them this way
        if (Array.isArray(value) && value.length) throw new GraphError(501, 'NotImplemented', 'The sandbox\'s Graph endpoint does not take attendees on events (it would send meeting requests).');
        break;
      case 'recurrence': {
        if (value === null || value === undefined) {
          clearsRecurrence = true;
          break;
        }
        const pattern = patternOfGraph(value);
        if (typeof pattern === 'string') throw new GraphError(400, 'ErrorInvalidRequest', `Invalid recurrence: ${pattern}.`);
        const xml = xmlOfPattern(pattern);
        const problem = recurrenceProblem(xml);
        if (problem) throw new GraphError(400, 'ErrorInvalidRequest', `Invalid recurrence: ${problem.message}`);
        props.Recurrence = xml;
        break;
      }
      default:
        // properties Graph has that the sandbox keeps nothing of are accepted and ignored, as read-only ones are
        break;
    }
  }
  const transactionId = typeof body.transactionId === 'string' ? body.transactionId : undefined;
  return { props, extended, transactionId, ...(clearsRecurrence ? { clearsRecurrence } : {}) };
}
