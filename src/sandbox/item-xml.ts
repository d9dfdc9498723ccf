import { childNamed, childrenNamed, type XmlElement } from '../shared/safe-xml.js';
import { formatUtc, ianaFromWindows, parseDateTime, zoneOffsetMs } from '../shared/time-zones.js';
import { changeKeyOf, folderChangeKeyOf, folderIdOf, itemIdOf, occurrenceIdOf } from './ids.js';
import {
  DATE_TIME_ELEMENTS, DEFAULT_SHAPE, elementOfFieldUri, ELEMENT_ORDER, ITEM_CLASS, NOT_IN_ALL_PROPERTIES, SERVER_MANAGED, type ItemKind,
} from './item-properties.js';
import { extendedKey, type ItemShape } from './item-shape.js';
import type { ExtendedValue, Mailbox, PropertyValue, StoredItem } from './mailbox-store.js';
import { recurrenceProblem, recurrenceSummary, type Occurrence } from './recurrence.js';
import { EwsFault } from './ews-context.js';
import { el, escapeXml, wrap, writeElement } from './xml-writer.js';

/** A value the client sent that cannot be stored: the operation answers with this code. */
export class ItemValueError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * The zone for floating times: the item's StartTimeZone (or legacy MeetingTimeZone),
 * else the request's TimeZoneContext, else UTC.
 */
export function zoneOfItemElement(element: XmlElement, requestZone: string | undefined): string {
  const tzId = childNamed(element, 'StartTimeZone')?.attrs.Id ?? childNamed(element, 'MeetingTimeZone')?.attrs.TimeZoneName;
  return (tzId && ianaFromWindows(tzId)) || requestZone || 'UTC';
}

/** Reads one property element into its stored form. */
export function readPropertyValue(child: XmlElement, zone: string): PropertyValue {
  if (DATE_TIME_ELEMENTS.has(child.local)) {
    const ms = parseDateTime(child.text, zone);
    if (ms === undefined) throw new ItemValueError('ErrorInvalidPropertySet', `${child.local}: "${child.text.trim()}" is not an xs:dateTime`);
    return formatUtc(ms);
  }
  if (child.children.length > 0 || Object.keys(child.attrs).length > 0) return child;
  return child.text;
}

export function readExtended(property: XmlElement): [string, ExtendedValue] | undefined {
  const uri = childNamed(property, 'ExtendedFieldURI');
  if (!uri) return undefined;
  const values = childNamed(property, 'Values');
  const value = values ? childrenNamed(values, 'Value').map((v) => v.text) : (childNamed(property, 'Value')?.text ?? '');
  return [extendedKey(uri), { uri, value }];
}

const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';

/**
 * A Recurrence as Exchange stores it: refused when Exchange would refuse it, and a weekly
 * pattern always with its FirstDayOfWeek (Sunday unless given).
 */
export function withDefaults(value: PropertyValue): PropertyValue {
  if (typeof value === 'string') return value;
  const problem = recurrenceProblem(value);
  if (problem?.code === 'ErrorSchemaValidation') throw new EwsFault(problem.code, problem.message);
  if (problem) throw new ItemValueError(problem.code, problem.message);
  return {
    ...value,
    children: value.children.map((c) =>
      c.local === 'WeeklyRecurrence' && !c.children.some((x) => x.local === 'FirstDayOfWeek')
        ? { ...c, children: [...c.children, { name: 't:FirstDayOfWeek', local: 'FirstDayOfWeek', uri: NS_T, attrs: {}, children: [], text: 'Sunday' }] }
        : c,
    ),
  };
}

/** The properties of an item element of CreateItem (t:CalendarItem, t:Task, t:Contact). */
export function readItem(element: XmlElement, kind: ItemKind, requestZone: string | undefined): { props: Record<string, PropertyValue>; extended: Map<string, ExtendedValue> } {
  const zone = zoneOfItemElement(element, requestZone);
  const known = new Set(ELEMENT_ORDER[kind]);
  const props: Record<string, PropertyValue> = {};
  const extended = new Map<string, ExtendedValue>();
  for (const child of element.children) {
    if (child.local === 'ExtendedProperty') {
      const entry = readExtended(child);
      if (entry) extended.set(entry[0], entry[1]);
      continue;
    }
    // Unknown or server-set properties are ignored, as Exchange ignores what it computes itself.
    if (!known.has(child.local) || SERVER_MANAGED.has(child.local)) continue;
    props[child.local] = child.local === 'Recurrence' ? withDefaults(readPropertyValue(child, zone)) : readPropertyValue(child, zone);
  }
  return { props, extended };
}

function itemIdXml(item: StoredItem, name = 't:ItemId'): string {
  return el(name, null, { Id: itemIdOf(item.mailbox, item.seq), ChangeKey: changeKeyOf(item.version) });
}

/** The item as EWS returns it for `shape`, every element in schema order. */
export function writeItem(mailbox: Mailbox, item: StoredItem, shape: ItemShape, overrides: Record<string, string> = {}): string {
  const wanted = wantedElements(item.kind, shape);
  const computed = { ...computedProperties(mailbox, item), ...overrides };
  let inner = '';
  for (const name of ELEMENT_ORDER[item.kind]) {
    if (name === 'ExtendedProperty') {
      inner += writeExtended(item, shape);
      continue;
    }
    if (!wanted.has(name)) continue;
    const value = name in computed ? computed[name] : item.props[name];
    if (value === undefined) continue; // a property the item does not have is simply absent
    inner += typeof value === 'string' && value.startsWith('<') && name in computed ? value : writeValue(name, value);
  }
  return wrap(`t:${item.kind}`, inner);
}

function writeValue(name: string, value: PropertyValue): string {
  return typeof value === 'string' ? el(`t:${name}`, value) : writeElement(value, `t:${name}`);
}

function wantedElements(kind: ItemKind, shape: ItemShape): Set<string> {
  const wanted = new Set<string>(['ItemId']);
  if (shape.base === 'Default') for (const n of DEFAULT_SHAPE[kind]) wanted.add(n);
  if (shape.base === 'AllProperties') for (const n of ELEMENT_ORDER[kind]) if (!NOT_IN_ALL_PROPERTIES.has(n)) wanted.add(n);
  for (const uri of shape.fieldUris) {
    const name = elementOfFieldUri(kind, uri);
    if (name) wanted.add(name);
  }
  for (const { fieldUri } of shape.indexed) {
    const dictionary = { 'contacts:EmailAddress': 'EmailAddresses', 'contacts:PhoneNumber': 'PhoneNumbers', 'contacts:ImAddress': 'ImAddresses' }[fieldUri]
      ?? (fieldUri.startsWith('contacts:PhysicalAddress') ? 'PhysicalAddresses' : undefined);
    if (dictionary) wanted.add(dictionary);
  }
  return wanted;
}

function writeExtended(item: StoredItem, shape: ItemShape): string {
  let out = '';
  for (const uri of shape.extended) {
    const stored = item.extended.get(extendedKey(uri));
    if (!stored) continue;
    const value = Array.isArray(stored.value)
      ? wrap('t:Values', (stored.value as string[]).map((v) => el('t:Value', v)).join(''))
      : `<t:Value>${escapeXml(stored.value as string)}</t:Value>`;
    out += `<t:ExtendedProperty>${writeElement(stored.uri, 't:ExtendedFieldURI')}${value}</t:ExtendedProperty>`;
  }
  return out;
}

/** Properties the server computes; values that start with "<" are already XML. */
function computedProperties(mailbox: Mailbox, item: StoredItem): Record<string, string> {
  const c: Record<string, string> = {
    ItemId: itemIdXml(item),
    ParentFolderId: el('t:ParentFolderId', null, { Id: folderIdOf(item.mailbox, item.folder), ChangeKey: folderChangeKeyOf(item.mailbox) }),
    DateTimeCreated: formatUtc(item.created),
    LastModifiedTime: formatUtc(item.modified),
    LastModifiedName: mailbox.address.split('@')[0],
    HasAttachments: 'false',
    IsAssociated: 'false',
  };
  if (item.props.ItemClass === undefined) c.ItemClass = ITEM_CLASS[item.kind];
  if (item.kind === 'CalendarItem') {
    const recurring = item.props.Recurrence !== undefined;
    c.CalendarItemType = recurring ? 'RecurringMaster' : 'Single';
    c.IsRecurring = String(recurring);
    const attendees = item.props.RequiredAttendees !== undefined || item.props.OptionalAttendees !== undefined;
    c.IsMeeting = String(attendees);
    c.MyResponseType = 'Organizer';
    c.AppointmentState = attendees ? '1' : '0';
    if (item.props.Organizer === undefined) {
      c.Organizer = `<t:Organizer><t:Mailbox><t:Name>${escapeXml(mailbox.address.split('@')[0])}</t:Name><t:EmailAddress>${escapeXml(mailbox.address)}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Organizer>`;
    }
    if (recurring) Object.assign(c, recurrenceSummary(item));
    for (const name of ['StartTimeZone', 'EndTimeZone']) {
      const zone = item.props[name];
      if (typeof zone === 'object' && zone.attrs.Id && !childNamed(zone, 'Periods')) c[name] = timeZoneDefinition(name, zone.attrs.Id);
    }
  }
  if (item.kind === 'Contact' && item.props.DisplayName === undefined) {
    // Exchange composes the name a contact is shown by from its parts
    const part = (name: string): string => (typeof item.props[name] === 'string' ? (item.props[name] as string).trim() : '');
    const name = [part('GivenName'), part('MiddleName'), part('Surname')].filter(Boolean).join(' ');
    if (name) c.DisplayName = el('t:DisplayName', name);
  }
  if (item.kind === 'Task') {
    c.IsComplete = String(item.props.Status === 'Completed');
    c.IsRecurring = String(item.props.Recurrence !== undefined);
    c.ChangeCount = String(Math.max(1, item.changeNumber - item.createdChangeNumber + 1));
  }
  return c;
}

/**
 * A client may set a zone by Id alone; Exchange answers with the whole definition (periods,
 * transition groups, transitions), and clients such as ews-javascript-api refuse one
 * without them. Ours has the zone's standard period only: clients look the zone up by Id.
 */
function timeZoneDefinition(element: string, id: string): string {
  const key = `${element}|${id}`;
  let xml = ZONE_DEFINITIONS.get(key);
  if (xml === undefined) {
    xml = writeZoneDefinition(element, id);
    ZONE_DEFINITIONS.set(key, xml); // a few dozen zones at most; written for every calendar item read
  }
  return xml;
}

const ZONE_DEFINITIONS = new Map<string, string>();

function writeZoneDefinition(element: string, id: string): string {
  const offsetMinutes = Math.round(zoneOffsetMs(Date.UTC(new Date().getUTCFullYear(), 0, 15), ianaFromWindows(id) ?? 'UTC') / 60_000);
  const bias = -offsetMinutes; // EWS: UTC = local time + bias
  const period = `trule:Microsoft/Registry/${id}/Standard`;
  return wrap(`t:${element}`,
    wrap('t:Periods', el('t:Period', null, { Bias: `${bias < 0 ? '-' : ''}PT${Math.abs(bias)}M`, Name: 'Standard', Id: period })) +
    wrap('t:TransitionsGroups', wrap('t:TransitionsGroup', wrap('t:Transition', el('t:To', period, { Kind: 'Period' })), { Id: '0' })) +
    wrap('t:Transitions', wrap('t:Transition', el('t:To', '0', { Kind: 'Group' }))),
  { Id: id, Name: id });
}

export { itemIdXml };

/** One occurrence of a recurring master, as FindItem (CalendarView) and GetItem return it. */
export function writeOccurrence(mailbox: Mailbox, master: StoredItem, occurrence: Occurrence, shape: ItemShape): string {
  const override = master.modifiedOccurrences?.get(occurrence.originalStart);
  const props: Record<string, PropertyValue> = { ...master.props, ...(override?.props ?? {}) };
  delete props.Recurrence;
  props.Start = formatUtc(occurrence.start);
  props.End = formatUtc(occurrence.end);
  const view: StoredItem = { ...master, props, modifiedOccurrences: undefined, deletedOccurrences: undefined };
  return writeItem(mailbox, view, shape, {
    ItemId: el('t:ItemId', null, { Id: occurrenceIdOf(master.mailbox, master.seq, occurrence.index), ChangeKey: changeKeyOf(master.version) }),
    CalendarItemType: occurrence.modified ? 'Exception' : 'Occurrence',
    IsRecurring: 'true',
    OriginalStart: formatUtc(occurrence.originalStart),
  });
}
