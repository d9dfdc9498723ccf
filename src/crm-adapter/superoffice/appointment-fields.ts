import type { ItemFields } from '../../shared/item-fields.js';
import { minutesOfTimeSpan, timeSpanOfMinutes } from '../../shared/superoffice-time-span.js';
import { crmRef, type ActivityKind } from '../crm-port.js';
import type { TimeZoneLocations } from './time-zone-locations.js';

/** An AppointmentEntity as the Web API sends it (the fields the sync reads). */
export interface AppointmentEntity {
  AppointmentId: number;
  Associate?: { AssociateId?: number } | null;
  UpdatedBy?: { AssociateId?: number } | null;
  UpdatedDate?: string | null;
  Title?: string | null;
  Description?: string | null;
  Location?: string | null;
  StartDate?: string | null;
  EndDate?: string | null;
  Type?: string | null;
  Completed?: string | null;
  IsAlldayEvent?: boolean | null;
  HasAlarm?: boolean | null;
  AlarmLeadTime?: string | null;
  Private?: string | null;
  PreferredTZLocation?: number | null;
  Person?: { PersonId?: number } | null;
  Contact?: { ContactId?: number } | null;
  MotherId?: number | null;
  Recurrence?: { IsRecurrence?: boolean | null; RecurrenceId?: number | null } | null;
  Task?: { TaskListItemId?: number; Value?: string | null } | null;
  [other: string]: unknown;
}

/** A Task list item (List/Task/Items): an appointment's or to-do's type. */
export interface TaskListItem {
  TaskListItemId: number;
  Value: string;
  Type?: string;
  Deleted?: boolean;
}

/** SuperOffice dates are UTC; one written without an offset is read as UTC. */
export function parseSoDate(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

const utc = (value: string | null | undefined): string | undefined => {
  const ms = parseSoDate(value);
  return ms === undefined ? undefined : new Date(ms).toISOString().replace('.000Z', 'Z');
};

export const isTask = (e: AppointmentEntity): boolean => e.Type === 'inChecklist' || e.Type === 'BookingForChecklist';

/** An AppointmentEntity as the normalised fields both sides share. */
export function fieldsOf(e: AppointmentEntity, zones: TimeZoneLocations, ownerEmail: string | undefined): ItemFields {
  const task = isTask(e);
  const fields: ItemFields = {
    subject: e.Title ?? '', body: e.Description || undefined, location: e.Location || undefined,
    ...(task ? { start: utc(e.StartDate), due: utc(e.EndDate) ?? utc(e.StartDate), done: e.Completed === 'Completed' } : { start: utc(e.StartDate), end: utc(e.EndDate) }),
    timeZone: e.PreferredTZLocation ? zones.ianaOf(e.PreferredTZLocation) : undefined, allDay: e.IsAlldayEvent === true,
    private: !!e.Private && e.Private !== 'Public', recurrence: null,
    owner: e.Associate?.AssociateId ? crmRef('associate', e.Associate.AssociateId) : undefined, associateEmail: ownerEmail,
    personRef: e.Person?.PersonId ? crmRef('person', e.Person.PersonId) : null, contactRef: e.Contact?.ContactId ? crmRef('contact', e.Contact.ContactId) : null,
    motherRef: e.MotherId ? crmRef('appointment', e.MotherId) : null,
    modified: utc(e.UpdatedDate), version: e.UpdatedDate ?? '', crmId: crmRef('appointment', e.AppointmentId),
    crmType: e.Task?.Value ?? undefined,
    // the alarm (no alarm: none); a to-do's reminder is no appointment's
    ...(task || typeof e.HasAlarm !== 'boolean' ? {} : { reminder: e.HasAlarm ? (minutesOfTimeSpan(e.AlarmLeadTime) ?? 15) : null }),
  };
  for (const k of Object.keys(fields) as Array<keyof ItemFields>) if (fields[k] === undefined) delete fields[k];
  return fields;
}

const idOf = (ref: string | null | undefined, entity: string): number | undefined => {
  const m = new RegExp(`^${entity}:(\\d+)$`).exec(ref ?? '');
  return m ? Number(m[1]) : undefined;
};

/** The entity's synced properties for these fields (what POST sends, what PATCH replaces). */
export function entityOf(kind: ActivityKind, f: ItemFields, zones: TimeZoneLocations): Record<string, unknown> {
  const task = kind === 'task';
  const start = task ? (f.start ?? f.due) : f.start;
  const end = task ? (f.due ?? f.end ?? start) : (f.end ?? start);
  const person = idOf(f.personRef, 'person');
  const contact = idOf(f.contactRef, 'contact');
  return {
    Title: f.subject ?? '', Description: f.body ?? '', Location: f.location ?? '',
    ...(start ? { StartDate: start } : {}), ...(end ? { EndDate: end } : {}),
    Type: task ? 'inChecklist' : 'inDiary', ...(task ? { Completed: f.done ? 'Completed' : 'NotStarted' } : {}),
    IsAlldayEvent: f.allDay ?? false, Private: f.private ? 'PrivateUser' : 'Public',
    PreferredTZLocation: f.timeZone ? (zones.locationOf(f.timeZone) ?? 0) : 0,
    ...(task || f.reminder === undefined ? {} : { HasAlarm: f.reminder !== null, AlarmLeadTime: timeSpanOfMinutes(f.reminder ?? 0) }),
    // links are only ever added from Exchange: a person linked by hand in the CRM stays
    ...(person ? { Person: { PersonId: person } } : {}), ...(contact ? { Contact: { ContactId: contact } } : {}),
  };
}

export const kindOf = (e: AppointmentEntity): ActivityKind => (isTask(e) ? 'task' : 'appointment');
