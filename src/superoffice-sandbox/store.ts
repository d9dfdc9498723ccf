import { expand, type RecurrenceRule } from '../shared/superoffice-recurrence.js';

/** A CRM user: logs in with user name and password; its person holds the e-mail address. */
export interface SoAssociate {
  readonly id: number;
  readonly userName: string;
  password: string;
  readonly personId: number;
  readonly type: 'InternalAssociate' | 'SystemAssociate';
  deleted: boolean;
}

export interface SoContact {
  readonly id: number;
  name: string;
  department: string;
  registered: number;
  updated: number;
  updatedBy: number;
}

export interface SoPerson {
  readonly id: number;
  contactId: number;
  firstname: string;
  lastname: string;
  /** The first e-mail address (participants, associates are found by it). */
  email: string;
  /** The person's own details, as PersonEntity carries them. */
  details: SoPersonDetails;
  registered: number;
  readonly registeredBy: number;
  updated: number;
  updatedBy: number;
}

/** What a person has beyond its name and first e-mail: PersonEntity's lists and texts. */
export interface SoPersonDetails {
  /** The associate owning the person (PersonEntity.Associate; 0: none). */
  associateId: number;
  middleName: string;
  title: string;
  description: string;
  /** E-mail addresses after the first. */
  moreEmails: string[];
  officePhones: string[];
  mobilePhones: string[];
  privatePhones: string[];
  faxes: string[];
  /** PersonEntity.Address.Street (StructuredAddress). */
  street: { address1: string; city: string; state: string; zipcode: string };
  /** The values of the tenant's user-defined and extra person fields, by CustomFields key (person-custom-fields.ts). */
  customFields: Record<string, string>;
}

export const noPersonDetails = (): SoPersonDetails => ({
  associateId: 0, middleName: '', title: '', description: '', moreEmails: [], officePhones: [], mobilePhones: [], privatePhones: [], faxes: [], street: { address1: '', city: '', state: '', zipcode: '' }, customFields: {},
});

export interface SoParticipant {
  associateId: number;
  personId: number;
  contactId: number;
  emailAddress: string;
  invitationStatus: string;
}

/** One appointment row: a diary appointment, a task (checklist), or one occurrence of a series. */
export interface SoAppointment {
  readonly id: number;
  associateId: number;
  type: 'inDiary' | 'inChecklist' | 'BookingForDiary' | 'BookingForChecklist';
  title: string;
  description: string;
  location: string;
  start: number;
  end: number;
  allDay: boolean;
  isFree: boolean;
  /** HasAlarm, and AlarmLeadTime in minutes. */
  hasAlarm: boolean;
  alarmLeadMinutes: number;
  private: 'Public' | 'PrivateUser' | 'PrivateGroup';
  completed: 'NotStarted' | 'Started' | 'Completed';
  contactId: number;
  personId: number;
  /** A booking: self on the master row, the master's id on a participant's row, 0 otherwise. */
  motherId: number;
  bookingType: 'None' | 'Owner' | 'Participant';
  participants: SoParticipant[];
  /** 0: no time zone location. */
  tzLocationId: number;
  /** 0: not part of a series. */
  recurrenceRuleId: number;
  /** Its Task list item (the appointment's type: Meeting, Phone call, …). */
  taskId: number;
  readonly registered: number;
  readonly registeredBy: number;
  updated: number;
  updatedBy: number;
}

/** A Task list item (List/Task/Items): an appointment's or a to-do's type. */
export interface SoTaskListItem {
  readonly id: number;
  readonly value: string;
  /** Appointment (the diary), ToDo (the checklist), … as SuperOffice's TaskType. */
  readonly type: 'Appointment' | 'ToDo' | 'Document' | 'Email' | 'Phone';
}

/**
 * The Task list a new SuperOffice database starts with, in its English names (an administrator
 * adds and renames items in Settings and maintenance); the first of a type is its default.
 */
export const DEFAULT_TASK_LIST: readonly SoTaskListItem[] = [
  { id: 1, value: 'Meeting', type: 'Appointment' }, { id: 2, value: 'Phone call', type: 'Appointment' }, { id: 3, value: 'Lunch', type: 'Appointment' },
  { id: 4, value: 'Presentation', type: 'Appointment' }, { id: 5, value: 'Customer visit', type: 'Appointment' }, { id: 6, value: 'To do', type: 'ToDo' },
  { id: 7, value: 'Follow-up', type: 'ToDo' },
];

export interface SoRule {
  readonly id: number;
  rule: RecurrenceRule;
  /** The first occurrence's start (the pattern's StartDate). */
  start: number;
  duration: number;
}

export interface SoForeignKey {
  readonly application: string;
  readonly device: string;
  readonly deviceIdentifier: string;
  readonly key: string;
  value: string;
  readonly tableName: string;
  readonly recordId: number;
  readonly registered: number;
  updated: number;
}

/** A static selection of persons (a contact selection with persons), as a user keeps a list. */
export interface SoSelection {
  readonly id: number;
  name: string;
  description: string;
  readonly associateId: number;
  /** A contact selection lists its companies' persons (IncludePerson 1) or the companies alone (0). */
  readonly includePerson: boolean;
  readonly memberPersonIds: Set<number>;
  readonly registered: number;
  readonly registeredBy: number;
  updated: number;
  updatedBy: number;
  lastMembershipChange: number;
  lastMembershipChangeBy: number;
}

export interface SoWebhook {
  readonly id: number;
  name: string;
  events: string[];
  targetUrl: string;
  secret: string;
  state: 'Active' | 'Stopped' | 'TooManyErrors';
  type: string;
  registered: number;
  registeredBy: number;
  updated: number;
  totalCalls: number;
  totalErrors: number;
  consecutiveErrors: number;
  lastError: string;
}

/** A row change, as the webhooks and the test journal see it. */
export interface SoChange {
  readonly entity: 'activity' | 'person' | 'contact' | 'associate';
  readonly event: 'created' | 'changed' | 'deleted';
  readonly primaryKey: number;
  readonly changedBy: number;
  readonly at: number;
  /** Database column names of what changed. */
  readonly changes: string[];
  readonly fieldValues: Record<string, unknown>;
}

export class NotFound extends Error {}
export class Refused extends Error {}

/**
 * The simulated SuperOffice database. Every write stamps `updated` (strictly increasing per
 * row, to the millisecond) and `updatedBy`, and is told to the listeners (webhooks, journal).
 */
export class SuperOfficeStore {
  readonly associates = new Map<number, SoAssociate>();
  readonly contacts = new Map<number, SoContact>();
  readonly persons = new Map<number, SoPerson>();
  readonly appointments = new Map<number, SoAppointment>();
  readonly rules = new Map<number, SoRule>();
  readonly foreignKeys: SoForeignKey[] = [];
  readonly webhooks = new Map<number, SoWebhook>();
  readonly selections = new Map<number, SoSelection>();
  private readonly listeners: Array<(c: SoChange) => void> = [];
  private readonly ids = { associate: 0, contact: 0, person: 0, appointment: 0, rule: 0, webhook: 0, selection: 0 };
  private clockOffset = 0;
  private lastStamp = 0;

  now(): number {
    return Date.now() + this.clockOffset;
  }

  advanceClock(ms: number): void {
    this.clockOffset += ms;
  }

  /** A write's time: never equal to the previous one, so versions always differ. */
  private stamp(): number {
    this.lastStamp = Math.max(this.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  onChange(listener: (c: SoChange) => void): void {
    this.listeners.push(listener);
  }

  private tell(c: Omit<SoChange, 'at'>, at: number): void {
    for (const l of this.listeners) l({ ...c, at });
  }

  next(kind: keyof SuperOfficeStore['ids']): number {
    return ++this.ids[kind];
  }

  addContact(name: string, by: number, department = ''): SoContact {
    const at = this.stamp();
    const c: SoContact = { id: this.next('contact'), name, department, registered: at, updated: at, updatedBy: by };
    this.contacts.set(c.id, c);
    this.tell({ entity: 'contact', event: 'created', primaryKey: c.id, changedBy: by, changes: ['contact_id', 'name'], fieldValues: { name } }, at);
    return c;
  }

  addPerson(fields: { contactId: number; firstname: string; lastname: string; email: string; details?: SoPersonDetails }, by: number): SoPerson {
    const at = this.stamp();
    const p: SoPerson = { id: this.next('person'), ...fields, details: fields.details ?? noPersonDetails(), registered: at, registeredBy: by, updated: at, updatedBy: by };
    this.persons.set(p.id, p);
    this.tell({ entity: 'person', event: 'created', primaryKey: p.id, changedBy: by, changes: ['person_id', 'firstname', 'lastname'], fieldValues: { contact_id: p.contactId } }, at);
    return p;
  }

  updatePerson(id: number, fields: Partial<Pick<SoPerson, 'contactId' | 'firstname' | 'lastname' | 'email' | 'details'>>, by: number): SoPerson {
    const p = this.persons.get(id);
    if (!p) throw new NotFound(`Person id ${id} not found`);
    Object.assign(p, fields, { updated: this.stamp(), updatedBy: by });
    this.tell({ entity: 'person', event: 'changed', primaryKey: id, changedBy: by, changes: Object.keys(fields), fieldValues: { contact_id: p.contactId } }, p.updated);
    return p;
  }

  addSelection(fields: { name: string; description: string; associateId: number; includePerson: boolean }, by: number): SoSelection {
    const at = this.stamp();
    const sel: SoSelection = { id: this.next('selection'), ...fields, memberPersonIds: new Set(), registered: at, registeredBy: by, updated: at, updatedBy: by, lastMembershipChange: at, lastMembershipChangeBy: by };
    this.selections.set(sel.id, sel);
    return sel;
  }

  renameSelection(id: number, fields: { name?: string; description?: string }, by: number): SoSelection {
    const sel = this.selections.get(id);
    if (!sel) throw new NotFound(`Selection id ${id} not found`);
    Object.assign(sel, Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)), { updated: this.stamp(), updatedBy: by });
    return sel;
  }

  deleteSelection(id: number): boolean {
    return this.selections.delete(id);
  }

  /** Adds (or removes) persons; persons that do not exist are refused, as SuperOffice's agent does. */
  changeMembers(id: number, personIds: readonly number[], change: 'add' | 'remove', by: number): void {
    const sel = this.selections.get(id);
    if (!sel) throw new NotFound(`Selection id ${id} not found`);
    for (const personId of personIds) if (change === 'add' && !this.persons.has(personId)) throw new Refused(`Person id ${personId} not found`);
    for (const personId of personIds) {
      if (change === 'add') sel.memberPersonIds.add(personId);
      else sel.memberPersonIds.delete(personId);
    }
    sel.lastMembershipChange = this.stamp();
    sel.lastMembershipChangeBy = by;
  }

  deletePerson(id: number, by: number): boolean {
    const p = this.persons.get(id);
    if (!p) return false;
    this.persons.delete(id);
    for (const sel of this.selections.values()) {
      if (!sel.memberPersonIds.delete(id)) continue;
      sel.lastMembershipChange = this.stamp();
      sel.lastMembershipChangeBy = by;
    }
    this.tell({ entity: 'person', event: 'deleted', primaryKey: id, changedBy: by, changes: [], fieldValues: { person_id: id, contact_id: p.contactId } }, this.stamp());
    return true;
  }

  addAssociate(userName: string, password: string, email: string, type: SoAssociate['type'] = 'InternalAssociate'): SoAssociate {
    const owner = this.contacts.get(1) ?? this.addContact('Our company', 0);
    const [first, last] = userName.split(/[._-]/);
    const person = this.addPerson({ contactId: owner.id, firstname: first ?? userName, lastname: last ?? '', email }, 0);
    const a: SoAssociate = { id: this.next('associate'), userName, password, personId: person.id, type, deleted: false };
    this.associates.set(a.id, a);
    return a;
  }

  associateByLogin(userName: string): SoAssociate | undefined {
    for (const a of this.associates.values()) if (a.userName.toLowerCase() === userName.toLowerCase()) return a;
    return undefined;
  }

  emailOf(associateId: number): string {
    const a = this.associates.get(associateId);
    return a ? (this.persons.get(a.personId)?.email ?? '') : '';
  }

  /**
   * Creates an appointment; with a rule, one row per occurrence tied by a new rule id (the
   * first row is returned). Booking participants who are associates get a row of their own.
   */
  createAppointment(row: Omit<SoAppointment, 'id' | 'registered' | 'registeredBy' | 'updated' | 'updatedBy' | 'recurrenceRuleId'>, by: number, rule?: RecurrenceRule): SoAppointment {
    if (!this.associates.has(row.associateId)) throw new Refused(`Associate id ${row.associateId} does not exist`);
    if (row.end < row.start) throw new Refused('EndDate is before StartDate');
    const invited = row.participants.filter((p) => p.associateId && p.associateId !== row.associateId && this.associates.has(p.associateId));
    const booking = invited.length > 0 ? { bookingType: 'Owner' as const, motherId: 0 } : {};
    const starts = rule ? expand(rule, row.start) : [row.start];
    if (!starts.length) throw new Refused('the recurrence pattern has no occurrence');
    let ruleId = 0;
    if (rule) {
      const r: SoRule = { id: this.next('rule'), rule, start: row.start, duration: row.end - row.start };
      this.rules.set(r.id, r);
      ruleId = r.id;
    }
    const masters = starts.map((s) => this.insertRow({ ...row, ...booking, start: s, end: s + (row.end - row.start), recurrenceRuleId: ruleId }, by));
    // a booking: each invited associate gets a row of their own in their diary, tied by MotherId
    for (const master of invited.length ? masters : []) {
      for (const p of invited) this.insertRow({ ...master, associateId: p.associateId, bookingType: 'Participant', motherId: master.id, recurrenceRuleId: ruleId }, by);
    }
    return masters[0];
  }

  /**
   * A series laid out again from `from` on by a (new) pattern: the rows from there are reused in
   * time order (`from` first, so its id stays), given the fields and the pattern's times;
   * missing occurrences get rows, surplus rows are deleted. The rule keeps its id.
   */
  relaySeries(from: SoAppointment, fields: Omit<SoAppointment, 'id' | 'registered' | 'registeredBy' | 'updated' | 'updatedBy' | 'recurrenceRuleId'>, rule: RecurrenceRule, by: number): void {
    const r = this.rules.get(from.recurrenceRuleId);
    if (!r) throw new NotFound(`recurrence rule ${from.recurrenceRuleId} not found`);
    const starts = expand(rule, fields.start);
    if (!starts.length) throw new Refused('the recurrence pattern has no occurrence');
    const duration = fields.end - fields.start;
    const rows = this.seriesRows(r.id, from.associateId).filter((row) => row.start >= from.start && row.id !== from.id);
    Object.assign(r, { rule, start: fields.start, duration });
    starts.forEach((start, i) => {
      const row = i === 0 ? from : rows[i - 1];
      const values = { ...fields, start, end: start + duration };
      if (row) this.updateAppointment(row.id, values, by);
      else this.insertRow({ ...values, recurrenceRuleId: r.id }, by);
    });
    for (const surplus of rows.slice(starts.length - 1)) this.deleteAppointment(surplus.id, by);
  }

  /** A booking's rows: the master and its participants' rows. */
  bookingRows(motherId: number): SoAppointment[] {
    return [...this.appointments.values()].filter((a) => a.motherId === motherId);
  }

  private insertRow(row: Omit<SoAppointment, 'id' | 'registered' | 'registeredBy' | 'updated' | 'updatedBy'>, by: number): SoAppointment {
    const at = this.stamp();
    const a: SoAppointment = { ...row, id: this.next('appointment'), registered: at, registeredBy: by, updated: at, updatedBy: by };
    if (a.bookingType === 'Owner' && a.motherId === 0) a.motherId = a.id;
    this.appointments.set(a.id, a);
    this.tell({ entity: 'activity', event: 'created', primaryKey: a.id, changedBy: by, changes: ['appointment_id', 'associate_id', 'do_by', 'endDate', 'text_id', 'type', 'updated', 'updatedCount'], fieldValues: activityValues(a) }, at);
    return a;
  }

  updateAppointment(id: number, fields: Partial<SoAppointment>, by: number): SoAppointment {
    const a = this.appointments.get(id);
    if (!a) throw new NotFound(`Appointment id ${id} not found`);
    const next = { ...a, ...fields };
    if (next.end < next.start) throw new Refused('EndDate is before StartDate');
    if (!this.associates.has(next.associateId)) throw new Refused(`Associate id ${next.associateId} does not exist`);
    const changed = Object.keys(fields).filter((k) => JSON.stringify((a as unknown as Record<string, unknown>)[k]) !== JSON.stringify((fields as Record<string, unknown>)[k]));
    Object.assign(a, fields, { updated: this.stamp(), updatedBy: by });
    this.tell({ entity: 'activity', event: 'changed', primaryKey: id, changedBy: by, changes: ['appointment_id', ...changed, 'updated', 'updated_associate_id', 'updatedCount'], fieldValues: activityValues(a) }, a.updated);
    return a;
  }

  deleteAppointment(id: number, by: number): boolean {
    const a = this.appointments.get(id);
    if (!a) return false;
    this.appointments.delete(id);
    for (let i = this.foreignKeys.length - 1; i >= 0; i--) if (this.foreignKeys[i].tableName === 'appointment' && this.foreignKeys[i].recordId === id) this.foreignKeys.splice(i, 1);
    this.tell({ entity: 'activity', event: 'deleted', primaryKey: id, changedBy: by, changes: [], fieldValues: { appointment_id: id, contact_id: a.contactId, person_id: a.personId, project_id: 0, sale_id: 0 } }, this.stamp());
    return true;
  }

  /** The rows of a series in one associate's diary, in time order. */
  seriesRows(ruleId: number, associateId: number): SoAppointment[] {
    return [...this.appointments.values()].filter((a) => a.recurrenceRuleId === ruleId && a.associateId === associateId).sort((x, y) => x.start - y.start || x.id - y.id);
  }

  setForeignKey(k: Omit<SoForeignKey, 'registered' | 'updated'>): SoForeignKey {
    const existing = this.foreignKeys.find((f) => f.application === k.application && f.device === k.device && f.deviceIdentifier === k.deviceIdentifier
      && f.key === k.key && f.tableName === k.tableName && f.recordId === k.recordId);
    const at = this.stamp();
    if (existing) {
      existing.value = k.value;
      existing.updated = at;
      return existing;
    }
    const created: SoForeignKey = { ...k, registered: at, updated: at };
    this.foreignKeys.push(created);
    return created;
  }
}

/** The webhook FieldValues of an activity, as docs-pages/activity-events.md lists them. */
function activityValues(a: SoAppointment): Record<string, unknown> {
  return {
    activeDate: new Date(a.start).toISOString(), associate_id: a.associateId, contact_id: a.contactId, do_by: new Date(a.start).toISOString(), document_id: 0,
    endDate: new Date(a.end).toISOString(), mother_id: a.motherId, person_id: a.personId, private: a.private === 'Public' ? 0 : 1, project_id: 0, sale_id: 0,
    status: a.completed === 'Completed' ? 3 : 1, task_idx: 0, type: a.type === 'inChecklist' ? 2 : 1, updated: new Date(a.updated).toISOString(),
  };
}
