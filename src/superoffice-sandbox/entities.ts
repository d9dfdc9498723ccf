import { infoFromRule, ruleFromInfo, type RecurrenceRule } from '../shared/superoffice-recurrence.js';
import { DEFAULT_TASK_LIST, noPersonDetails, Refused, type SoAppointment, type SoTaskListItem, type SoAssociate, type SoContact, type SoParticipant, type SoPerson, type SoPersonDetails, type SoSelection, type SuperOfficeStore } from './store.js';
import { tzLocation } from './time-zones.js';
import { PERSON_CUSTOM_FIELDS, personCustomField } from './person-custom-fields.js';
import { minutesOfTimeSpan, timeSpanOfMinutes } from '../shared/superoffice-time-span.js';

/** JSON as the Web API writes and reads it (AppointmentEntity, PersonEntity, …). */
export type Json = Record<string, unknown>;

/** SuperOffice dates: UTC; a date without an offset is read as UTC (the adapter asks for UTC). */
export const soDate = (ms: number): string => new Date(ms).toISOString();
export function parseSoDate(value: unknown, field: string): number {
  if (typeof value !== 'string' || !value) throw new Refused(`${field} is not a date`);
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(ms)) throw new Refused(`${field}: "${value}" is not a date`);
  return ms;
}

export function associateJson(store: SuperOfficeStore, id: number): Json | null {
  const a = store.associates.get(id);
  if (!a) return null;
  const p = store.persons.get(a.personId);
  return {
    AssociateId: a.id, Name: a.userName, PersonId: a.personId, Rank: a.id, Tooltip: '', Type: a.type, GroupIdx: 1,
    FullName: `${p?.firstname ?? ''} ${p?.lastname ?? ''}`.trim(), FormalName: `${p?.lastname ?? ''}, ${p?.firstname ?? ''}`, Deleted: a.deleted, EjUserId: 0, UserName: a.userName,
  };
}

function contactRef(store: SuperOfficeStore, id: number): Json | null {
  const c = store.contacts.get(id);
  return c ? { ContactId: c.id, Name: c.name, Department: c.department, FullName: c.name } : null;
}

function personRef(store: SuperOfficeStore, id: number): Json | null {
  const p = store.persons.get(id);
  return p ? { PersonId: p.id, Firstname: p.firstname, Lastname: p.lastname, FullName: `${p.firstname} ${p.lastname}`.trim(), Email: p.email, ContactId: p.contactId, ContactName: store.contacts.get(p.contactId)?.name ?? '' } : null;
}

/** A RecurrenceInfo as SuperOffice writes it for one row of a series. */
function recurrenceJson(store: SuperOfficeStore, a: SoAppointment): Json | null {
  if (!a.recurrenceRuleId) return null;
  const r = store.rules.get(a.recurrenceRuleId);
  if (!r) return null;
  const dates = store.seriesRows(r.id, a.associateId).map((row) => ({ Date: soDate(row.start), IsConflict: false, Description: '', DescriptionStyleHint: '', Tooltip: '' }));
  return { RecurrenceId: r.id, ...infoFromRule(r.rule, r.start), Dates: dates };
}

/** AppointmentEntity (with `_Links` for the REST carriers). */
export function appointmentJson(store: SuperOfficeStore, a: SoAppointment, base: string, links = true): Json {
  const tz = tzLocation(a.tzLocationId);
  return {
    Associate: associateJson(store, a.associateId), Contact: contactRef(store, a.contactId), CreatedBy: associateJson(store, a.registeredBy), UpdatedBy: associateJson(store, a.updatedBy),
    CreatedDate: soDate(a.registered), AppointmentId: a.id, Description: a.description, Title: a.title, Agenda: '', InternalNotes: '',
    StartDate: soDate(a.start), EndDate: soDate(a.end), InvitedPerson: null, Person: personRef(store, a.personId), MotherId: a.motherId, Priority: null,
    Private: a.private, Project: null, Type: a.type, UpdatedDate: soDate(a.updated), Completed: a.completed, ActiveLinks: 0, Links: [], AlarmLeadTime: timeSpanOfMinutes(a.alarmLeadMinutes),
    HasAlarm: a.hasAlarm, ColorIndex: 0, IsFree: a.isFree, IsAlldayEvent: a.allDay, LagTime: '00:00:00', LeadTime: '00:00:00', Location: a.location, RejectCounter: 0, RejectReason: '',
    Recurrence: recurrenceJson(store, a), Participants: a.participants.map(participantJson), AssignmentStatus: 'None', InvitationStatus: 'None', BookingType: a.bookingType,
    ActiveDate: soDate(a.start), HasConflict: false, AssignedBy: null, MotherAssociate: a.motherId ? associateJson(store, store.appointments.get(a.motherId)?.associateId ?? 0) : null,
    Task: taskListItemJson(DEFAULT_TASK_LIST.find((t) => t.id === a.taskId) ?? defaultTask(a.type)),
    PreferredTZLocation: a.tzLocationId, PreferredTZLocationData: tz ? { TZLocationID: tz.id, Name: tz.name, TZLocationCode: tz.code, TZLocationCities: tz.cities, IsoNumber: 0 } : null,
    Sale: null, SuggestedAppointmentId: 0, IsMileStone: false, CautionWarning: 'OK', OwnedExternally: 'None', JoinVideomeetUrl: '', CentralserviceVideomeetId: '',
    CustomFields: {}, IsPublished: false, VisibleFor: [],
    ...(links ? { _Links: { Self: `${base}/api/v1/Appointment/${a.id}` } } : {}),
  };
}

function participantJson(p: SoParticipant): Json {
  return {
    AssociateId: p.associateId, PersonId: p.personId, ContactId: p.contactId, EmailId: 0, SendEmail: false, InvitationStatus: p.invitationStatus,
    EmailAddress: p.emailAddress, Description: '', ExternallyOwnedType: 'Required', ExternallyOwnedStatus: 'Accepted',
  };
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

const idIn = (v: unknown, key: string): number => (v && typeof v === 'object' && typeof (v as Json)[key] === 'number' ? ((v as Json)[key] as number) : 0);

/** AlarmLeadTime of a body (absent: none; a bad one is refused, as the Web API's deserialiser does). */
function alarmMinutesOf(v: unknown): number {
  if (v === undefined || v === null) return 0;
  const minutes = minutesOfTimeSpan(v);
  if (minutes === undefined) throw new Refused(`AlarmLeadTime "${String(v)}" is not a time span (hh:mm:ss)`);
  return minutes;
}

/** An AppointmentEntity body → the row fields it sets (PUT: all of them; the Web API has no partial PUT). */
export function appointmentFields(store: SuperOfficeStore, body: Json, writer: SoAssociate): { fields: Omit<SoAppointment, 'id' | 'registered' | 'registeredBy' | 'updated' | 'updatedBy' | 'recurrenceRuleId'>; rule?: RecurrenceRule } {
  const start = body.StartDate !== undefined && body.StartDate !== null ? parseSoDate(body.StartDate, 'StartDate') : store.now();
  const end = body.EndDate !== undefined && body.EndDate !== null ? parseSoDate(body.EndDate, 'EndDate') : start;
  const type = (['inDiary', 'inChecklist', 'BookingForDiary', 'BookingForChecklist'] as const).find((t) => t === body.Type) ?? 'inDiary';
  const priv = (['Public', 'PrivateUser', 'PrivateGroup'] as const).find((t) => t === body.Private) ?? 'Public';
  const completed = (['NotStarted', 'Started', 'Completed'] as const).find((t) => t === body.Completed) ?? 'NotStarted';
  const associateId = idIn(body.Associate, 'AssociateId') || writer.id;
  const participants: SoParticipant[] = Array.isArray(body.Participants) ? (body.Participants as Json[]).map((p) => ({
    associateId: typeof p.AssociateId === 'number' ? p.AssociateId : 0, personId: typeof p.PersonId === 'number' ? p.PersonId : 0, contactId: typeof p.ContactId === 'number' ? p.ContactId : 0,
    emailAddress: text(p.EmailAddress), invitationStatus: text(p.InvitationStatus) || 'Accepted',
  })) : [];
  const taskId = idIn(body.Task, 'TaskListItemId');
  if (taskId && !DEFAULT_TASK_LIST.some((t) => t.id === taskId)) throw new Refused(`Task ${taskId} is not an item of the Task list`);
  const tz = typeof body.PreferredTZLocation === 'number' ? body.PreferredTZLocation : 0;
  if (tz && !tzLocation(tz)) throw new Refused(`PreferredTZLocation ${tz} is not a time zone location`);
  const fields = {
    associateId, type, title: text(body.Title), description: text(body.Description), location: text(body.Location), start, end,
    allDay: body.IsAlldayEvent === true, isFree: body.IsFree === true, private: priv, completed,
    hasAlarm: body.HasAlarm === true, alarmLeadMinutes: alarmMinutesOf(body.AlarmLeadTime),
    contactId: idIn(body.Contact, 'ContactId'), personId: idIn(body.Person, 'PersonId'), motherId: typeof body.MotherId === 'number' ? body.MotherId : 0,
    bookingType: (['None', 'Owner', 'Participant'] as const).find((t) => t === body.BookingType) ?? 'None', participants, tzLocationId: tz,
    // none named: the list's default for a diary appointment or a to-do, as SuperOffice does
    taskId: taskId || defaultTask(type).id,
  };
  const r = body.Recurrence as Json | null | undefined;
  return { fields, rule: r && r.IsRecurrence === true ? ruleOf(r) : undefined };
}

/** RecurrenceInfo → a rule; a pattern SuperOffice cannot run (no end, Custom, Unknown) is refused. */
export function ruleOf(r: Json): RecurrenceRule {
  const rule = ruleFromInfo(r);
  if (typeof rule === 'string') throw new Refused(rule);
  return rule;
}

const elements = (values: readonly string[]): Json[] => values.map((v) => ({ Value: v, StrippedValue: v.replace(/[^\d+]/g, ''), Description: '' }));

export function personJson(store: SuperOfficeStore, p: SoPerson, base: string): Json {
  const c = store.contacts.get(p.contactId);
  const d = p.details;
  return {
    PersonId: p.id, Firstname: p.firstname, Lastname: p.lastname, MiddleName: d.middleName, Title: d.title, Mrmrs: '', Description: d.description,
    Contact: c ? { ContactId: c.id, Name: c.name, Department: c.department, FullName: c.name } : null,
    Associate: d.associateId ? associateJson(store, d.associateId) : null,
    Emails: [p.email, ...d.moreEmails].filter(Boolean).map((e) => ({ Value: e, StrippedValue: e, Description: '' })),
    OfficePhones: elements(d.officePhones), MobilePhones: elements(d.mobilePhones), PrivatePhones: elements(d.privatePhones), Faxes: elements(d.faxes),
    Address: { Street: { Address1: d.street.address1, Address2: '', Address3: '', City: d.street.city, State: d.street.state, Zipcode: d.street.zipcode, County: '', Formatted: '' } },
    CreatedDate: soDate(p.registered), CreatedBy: associateJson(store, p.registeredBy), UpdatedDate: soDate(p.updated), UpdatedBy: associateJson(store, p.updatedBy), Retired: false,
    ...customFieldsJson(d.customFields),
    _Links: { Self: `${base}/api/v1/Person/${p.id}` },
  };
}

/** CustomFields, and the deprecated UserDefinedFields and ExtraFields, of a person: every field the tenant has, empty where unset. */
function customFieldsJson(values: Record<string, string>): Json {
  const all = PERSON_CUSTOM_FIELDS.map((f) => [f.key, values[f.key] ?? ''] as const);
  return {
    CustomFields: Object.fromEntries(all),
    UserDefinedFields: Object.fromEntries(all.filter(([k]) => k.startsWith('SuperOffice:'))),
    ExtraFields: Object.fromEntries(all.filter(([k]) => !k.startsWith('SuperOffice:'))),
  };
}

/**
 * The custom field values a PersonEntity body sets (CustomFields, or the deprecated
 * UserDefinedFields / ExtraFields); keys of fields the tenant does not have are ignored.
 */
function customFieldsOf(b: Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const bag of [b.UserDefinedFields, b.ExtraFields, b.CustomFields]) {
    if (!bag || typeof bag !== 'object') continue;
    for (const [key, value] of Object.entries(bag as Json)) {
      const field = personCustomField(key);
      if (field && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) out[field.key] = String(value);
    }
  }
  return out;
}

/** A PersonEntity body as the store's person fields (what the simulator keeps of it). */
export function personFields(store: SuperOfficeStore, b: Json): { contactId: number; firstname: string; lastname: string; email: string; details: SoPersonDetails } {
  const list = (v: unknown): string[] => (Array.isArray(v) ? (v as Json[]).map((e) => String(e?.Value ?? '').trim()).filter(Boolean) : []);
  const contactId = b.Contact && typeof b.Contact === 'object' ? Number((b.Contact as Json).ContactId ?? 0) : 0;
  if (contactId && !store.contacts.has(contactId)) throw new Refused(`Contact id ${contactId} not found`);
  const associateId = b.Associate && typeof b.Associate === 'object' ? Number((b.Associate as Json).AssociateId ?? 0) : 0;
  if (associateId && !store.associates.has(associateId)) throw new Refused(`Associate id ${associateId} not found`);
  const emails = list(b.Emails);
  const street = ((b.Address as Json | undefined)?.Street ?? {}) as Json;
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    contactId, firstname: text(b.Firstname), lastname: text(b.Lastname), email: emails[0] ?? '',
    details: {
      ...noPersonDetails(), associateId, middleName: text(b.MiddleName), title: text(b.Title), description: text(b.Description), moreEmails: emails.slice(1),
      officePhones: list(b.OfficePhones), mobilePhones: list(b.MobilePhones), privatePhones: list(b.PrivatePhones), faxes: list(b.Faxes),
      street: { address1: text(street.Address1), city: text(street.City), state: text(street.State), zipcode: text(street.Zipcode) },
      customFields: customFieldsOf(b),
    },
  };
}

export function contactJson(store: SuperOfficeStore, c: SoContact, base: string): Json {
  return {
    ContactId: c.id, Name: c.name, Department: c.department, CreatedDate: soDate(c.registered), UpdatedDate: soDate(c.updated), UpdatedBy: associateJson(store, c.updatedBy),
    Deleted: 0, _Links: { Self: `${base}/api/v1/Contact/${c.id}` },
  };
}

export function userJson(store: SuperOfficeStore, a: SoAssociate, base: string): Json {
  const p = store.persons.get(a.personId);
  return {
    AssociateId: a.id, Name: a.userName, Rank: a.id, Tooltip: '', Deleted: a.deleted, Type: a.type, UserName: a.userName, IsPersonRetired: false, IsOnTravel: false,
    Person: p ? { PersonId: p.id, Firstname: p.firstname, Lastname: p.lastname, FullName: `${p.firstname} ${p.lastname}`.trim(), Email: p.email, ContactId: p.contactId } : null,
    _Links: { Self: `${base}/api/v1/User/${a.id}` },
  };
}

export function selectionJson(store: SuperOfficeStore, sel: SoSelection, base: string): Json {
  return {
    SelectionId: sel.id, Name: sel.name, Description: sel.description, SelectionType: 'Static', TargetTableName: 'contact', TargetTableNumber: 5, IncludePerson: sel.includePerson ? 1 : 0,
    MemberCount: sel.memberPersonIds.size, Associate: associateJson(store, sel.associateId), CreatedBy: associateJson(store, sel.registeredBy), UpdatedBy: associateJson(store, sel.updatedBy),
    CreatedDate: soDate(sel.registered), UpdatedDate: soDate(sel.updated), LastMembershipChange: soDate(sel.lastMembershipChange), LastMembershipChangeByAssociate: associateJson(store, sel.lastMembershipChangeBy),
    Completed: true, Visibility: 0,
    _Links: { Self: `${base}/api/v1/Selection/${sel.id}`, Members: `${base}/api/v1/Selection/${sel.id}/Members` },
  };
}

/** The Task list's default item for an appointment of this type (the first of its kind). */
function defaultTask(type: SoAppointment['type']): SoTaskListItem {
  const kind = type === 'inChecklist' || type === 'BookingForChecklist' ? 'ToDo' : 'Appointment';
  return DEFAULT_TASK_LIST.find((t) => t.type === kind)!;
}

/** A TaskListItem carrier. */
export function taskListItemJson(t: SoTaskListItem): Json {
  return { TaskListItemId: t.id, Value: t.value, Direction: 'Unknown', Type: t.type, Tooltip: '', Deleted: false, IntentId: 0, Rank: t.id, IsDefaultAlldayEvent: false, IsDefaultFree: false, IsDefaultPublished: false };
}
