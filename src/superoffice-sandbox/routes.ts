import { archiveValue, PERSON_CUSTOM_FIELDS } from './person-custom-fields.js';
import { runArchive, type ArchiveQuery, type ArchiveRow, type ColumnType } from './archive.js';
import { appointmentFields, appointmentJson, associateJson, contactJson, personFields, personJson, selectionJson, soDate, taskListItemJson, userJson, type Json } from './entities.js';
import { DEFAULT_TASK_LIST, NotFound, Refused, type SoAppointment, type SoAssociate, type SoSelection, type SuperOfficeStore } from './store.js';
import { tzLocations } from './time-zones.js';

/** One request, as a route sees it. */
export interface RouteContext {
  readonly method: string;
  readonly params: string[];
  readonly query: URLSearchParams;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
  /** The logged-in associate. */
  readonly user: SoAssociate;
  readonly base: string;
  readonly store: SuperOfficeStore;
  /** Checks a request body against a Swagger definition (test mode). */
  checkRequest(definition: string): void;
}

export interface RouteAnswer {
  status: number;
  body?: unknown;
  /** The Swagger definition the body is (validated in test mode); `[]` suffix: an array of it. */
  definition?: string;
  headers?: Record<string, string>;
}

export interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly run: (ctx: RouteContext) => RouteAnswer;
}

const D = {
  appointment: 'SuperOffice.CRM.Services.AppointmentEntity',
  appointmentWithLinks: 'SuperOffice.WebApi.v1.Carriers.AppointmentCarriers.AppointmentEntityWithLinks',
  odata: 'SuperOffice.Services.WebApi.OData.ODataSlimResponse',
  person: 'SuperOffice.CRM.Services.PersonEntity',
  personWithLinks: 'SuperOffice.WebApi.v1.Carriers.PersonCarriers.PersonEntityWithLinks',
  contact: 'SuperOffice.CRM.Services.ContactEntity',
  contactWithLinks: 'SuperOffice.WebApi.v1.Carriers.ContactCarriers.ContactEntityWithLinks',
  userWithLinks: 'SuperOffice.WebApi.v1.Carriers.UserCarriers.UserWithLinks',
  associate: 'SuperOffice.CRM.Services.Associate',
  foreignKey: 'SuperOffice.CRM.Services.ForeignKey',
  webhook: 'SuperOffice.CRM.Services.Webhook',
  webhookWithLinks: 'SuperOffice.WebApi.v1.Carriers.WebhookCarriers.WebhookWithLinks',
  saveRequest: 'SuperOffice.WebApi.v1.Carriers.AppointmentCarriers.SaveRequest',
  deleteRequest: 'SuperOffice.WebApi.v1.Carriers.AppointmentCarriers.DeleteRequest',
  selection: 'SuperOffice.CRM.Services.SelectionEntity',
  selectionWithLinks: 'SuperOffice.WebApi.v1.Carriers.SelectionCarriers.SelectionEntityWithLinks',
  contactPersonIds: 'SuperOffice.CRM.Services.ContactPersonId[]',
  taskListItem: 'SuperOffice.CRM.Services.TaskListItem',
} as const;

/** The HTTP dates of If-Modified-Since / If-Unmodified-Since have whole seconds. */
const seconds = (ms: number): number => Math.floor(ms / 1000);

function httpDate(ctx: RouteContext, name: string): number | undefined {
  const v = ctx.headers[name];
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** 412 when the record changed after the If-Unmodified-Since time. */
function unmodifiedSince(ctx: RouteContext, updated: number): RouteAnswer | undefined {
  const since = httpDate(ctx, 'if-unmodified-since');
  if (since !== undefined && seconds(updated) > seconds(since)) {
    return { status: 412, body: soError('SoPreconditionFailedException', `the record was changed at ${new Date(updated).toUTCString()}, after ${new Date(since).toUTCString()}`) };
  }
  return undefined;
}

export function soError(type: string, message: string): Json {
  return { Error: true, ErrorType: type, ErrorMessage: message, ErrorSource: 'SuperOffice.Services.Implementation' };
}

const num = (s: string): number => {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new NotFound(`"${s}" is not an id`);
  return n;
};

function archiveQuery(q: URLSearchParams): ArchiveQuery {
  const int = (name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Refused(`${name} must be a whole number`);
    return n;
  };
  return { select: q.get('$select') ?? undefined, filter: q.get('$filter') ?? undefined, orderBy: q.get('$orderBy') ?? q.get('$orderby') ?? undefined, top: int('$top'), skip: int('$skip') };
}

/** An archive answer: ODataSlimResponse with odata.nextLink while rows remain. */
function archive(ctx: RouteContext, path: string, columns: Record<string, ColumnType>, rows: ArchiveRow[]): RouteAnswer {
  const q = archiveQuery(ctx.query);
  const { value, more } = runArchive(columns, rows, q);
  const next = new URLSearchParams(ctx.query);
  next.set('$skip', String((q.skip ?? 0) + value.length));
  const body: Json = { 'odata.metadata': `${ctx.base}/api/v1/${path}/$metadata`, value };
  if (more) body['odata.nextLink'] = `${ctx.base}/api/v1/${path}?${next.toString()}`;
  return { status: 200, body, definition: D.odata };
}

/** FindAppointment's columns the simulator serves (docs-pages/findappointment.md). */
const APPOINTMENT_COLUMNS: Record<string, ColumnType> = {
  appointmentId: 'int', associateId: 'associate', contactId: 'int', personId: 'int', date: 'date', endDate: 'date', type: 'string', rawType: 'int',
  text: 'string', location: 'string', completed: 'bool', recurrenceRuleId: 'int', recurring: 'bool', booking: 'bool',
  updatedDate: 'date', updatedBy: 'associate', registeredDate: 'date', registeredBy: 'associate',
};

function appointmentRow(a: SoAppointment): ArchiveRow {
  return {
    appointmentId: a.id, associateId: a.associateId, contactId: a.contactId, personId: a.personId, date: soDate(a.start), endDate: soDate(a.end), type: a.type,
    rawType: a.type === 'inChecklist' || a.type === 'BookingForChecklist' ? 2 : 1, text: a.title, location: a.location, completed: a.completed === 'Completed',
    recurrenceRuleId: a.recurrenceRuleId, recurring: a.recurrenceRuleId > 0, booking: a.motherId > 0,
    updatedDate: soDate(a.updated), updatedBy: a.updatedBy, registeredDate: soDate(a.registered), registeredBy: a.registeredBy,
  };
}

const PERSON_COLUMNS: Record<string, ColumnType> = {
  personId: 'int', firstName: 'string', lastName: 'string', contactId: 'int', email: 'string', associateId: 'associate',
  personUpdatedDate: 'date', personUpdatedBy: 'associate', personRegisteredDate: 'date',
  'correspondingAssociate/associateDbId': 'associate', 'correspondingAssociate/userName': 'string', 'correspondingAssociate/personEmail': 'string', 'correspondingAssociate/isActive': 'bool',
  ...Object.fromEntries(PERSON_CUSTOM_FIELDS.map((f) => [f.column, f.type])),
};
/** The selection archive: a selection's changes show in updatedDate (name) and lastMembershipChange (members). */
const SELECTION_COLUMNS: Record<string, ColumnType> = { selectionId: 'int', name: 'string', associateId: 'associate', includePerson: 'bool', updatedDate: 'date', lastMembershipChange: 'date' };
/** A person selection's member rows (the selection's member archive, a few of its columns). */
const MEMBER_COLUMNS: Record<string, ColumnType> = { personId: 'int', contactId: 'int', firstName: 'string', lastName: 'string', email: 'string' };
const CONTACT_COLUMNS: Record<string, ColumnType> = { contactId: 'int', name: 'string', department: 'string', updatedDate: 'date' };
const USER_COLUMNS: Record<string, ColumnType> = { associateId: 'associate', name: 'string', userName: 'string', personId: 'int', email: 'string', deleted: 'bool', type: 'string' };
const TZ_COLUMNS: Record<string, ColumnType> = { TZLocationID: 'int', Name: 'string', TZLocationCode: 'string', TZLocationCities: 'string' };

function writeAppointment(ctx: RouteContext, existing?: SoAppointment): SoAppointment {
  ctx.checkRequest(D.appointment);
  const body = ctx.body as Json;
  if (!body || typeof body !== 'object') throw new Refused('Entity to save is not in request body.');
  const { fields, rule } = appointmentFields(ctx.store, body, ctx.user);
  if (!existing) return ctx.store.createAppointment(fields, ctx.user.id, rule);
  // REST PUT has no update mode: it changes this row only, as if it were not part of a series
  return ctx.store.updateAppointment(existing.id, fields, ctx.user.id);
}

function appointmentOf(ctx: RouteContext): SoAppointment {
  const a = ctx.store.appointments.get(num(ctx.params[0]));
  if (!a) throw new NotFound(`Appointment id ${ctx.params[0]} not found`);
  return a;
}

/** RFC 6902 JSON Patch (add, replace, remove, test) or a JSON Merge Patch object. */
function patched(current: Json, patch: unknown): Json | 'test-failed' {
  if (!Array.isArray(patch)) return { ...current, ...(patch as Json) };
  const out = structuredClone(current);
  for (const op of patch as Json[]) {
    const path = String(op.path ?? '').split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (!path.length) throw new Refused('JSON Patch: an operation without a path');
    let node: Json = out;
    for (const part of path.slice(0, -1)) {
      if (!node[part] || typeof node[part] !== 'object') node[part] = {};
      node = node[part] as Json;
    }
    const last = path[path.length - 1];
    const name = String(op.op).toLowerCase();
    if (name === 'test') {
      if (JSON.stringify(node[last]) !== JSON.stringify(op.value)) return 'test-failed';
    } else if (name === 'add' || name === 'replace') node[last] = op.value;
    else if (name === 'remove') delete node[last];
    else throw new Refused(`JSON Patch: "${String(op.op)}" is not supported`);
  }
  return out;
}

/** Agent Save/Delete UpdateMode for a series row: OnlyThis, ThisAndForward, or (Save) StopRecurrence. */
function seriesRowsFor(store: SuperOfficeStore, a: SoAppointment, mode: string): SoAppointment[] {
  if (!a.recurrenceRuleId || mode === 'OnlyThis' || mode === 'Unknown' || !mode) return [a];
  const rows = store.seriesRows(a.recurrenceRuleId, a.associateId);
  return mode === 'ThisAndForward' ? rows.filter((r) => r.start >= a.start) : rows;
}

export function superOfficeRoutes(): Route[] {
  const routes: Route[] = [];
  const add = (method: string, path: string, run: Route['run']): void => {
    routes.push({ method, pattern: new RegExp(`^/api/v1/${path.replace(/\{[^}]+\}/g, '([^/]+)')}$`, 'i'), run });
  };

  // ── appointments ──
  add('GET', 'Appointment/default', (ctx) => {
    const at = ctx.store.now();
    return {
      status: 200, definition: D.appointment,
      body: { AppointmentId: 0, Associate: associateJson(ctx.store, ctx.user.id), StartDate: soDate(at), EndDate: soDate(at + 3_600_000), Type: 'inDiary', Private: 'Public', Completed: 'NotStarted', Title: '', Description: '', Location: '', IsAlldayEvent: false, IsFree: false, MotherId: 0, Participants: [], Recurrence: null },
    };
  });
  // the Task list: appointment and to-do types (an administrator's list; the sync reads it, never writes it)
  add('GET', 'List/Task/Items', () => ({ status: 200, body: DEFAULT_TASK_LIST.map(taskListItemJson), definition: `${D.taskListItem}[]` }));
  add('GET', 'List/Task/Items/Default', () => ({ status: 200, body: taskListItemJson(DEFAULT_TASK_LIST[0]), definition: D.taskListItem }));
  add('GET', 'Appointment', (ctx) => archive(ctx, 'Appointment', APPOINTMENT_COLUMNS, [...ctx.store.appointments.values()].map(appointmentRow)));
  add('POST', 'Appointment', (ctx) => ({ status: 200, body: appointmentJson(ctx.store, writeAppointment(ctx), ctx.base), definition: D.appointmentWithLinks }));
  add('GET', 'Appointment/{id}', (ctx) => {
    const a = appointmentOf(ctx);
    const since = httpDate(ctx, 'if-modified-since');
    if (since !== undefined && seconds(a.updated) <= seconds(since)) return { status: 304 };
    const body = appointmentJson(ctx.store, a, ctx.base);
    if (ctx.query.get('fk') === 'true') {
      body.ExtraFields = Object.fromEntries(ctx.store.foreignKeys.filter((k) => k.tableName === 'appointment' && k.recordId === a.id).map((k) => [`${k.application}.${k.device}.${k.key}`, k.value]));
    }
    return { status: 200, body, definition: D.appointmentWithLinks };
  });
  add('PUT', 'Appointment/{id}', (ctx) => {
    const a = appointmentOf(ctx);
    const refused = unmodifiedSince(ctx, a.updated);
    if (refused) return refused;
    return { status: 200, body: appointmentJson(ctx.store, writeAppointment(ctx, a), ctx.base), definition: D.appointmentWithLinks };
  });
  add('PATCH', 'Appointment/{id}', (ctx) => {
    const a = appointmentOf(ctx);
    const refused = unmodifiedSince(ctx, a.updated);
    if (refused) return refused;
    const next = patched(appointmentJson(ctx.store, a, ctx.base, false), ctx.body);
    if (next === 'test-failed') return { status: 409, body: soError('SoConflictException', 'a JSON Patch test operation failed') };
    const { fields } = appointmentFields(ctx.store, next, ctx.user);
    return { status: 200, body: appointmentJson(ctx.store, ctx.store.updateAppointment(a.id, fields, ctx.user.id), ctx.base), definition: D.appointmentWithLinks };
  });
  add('DELETE', 'Appointment/{id}', (ctx) => {
    const a = appointmentOf(ctx);
    const refused = unmodifiedSince(ctx, a.updated);
    if (refused) return refused;
    ctx.store.deleteAppointment(a.id, ctx.user.id);
    return { status: 204 };
  });
  add('GET', 'Appointment/{id}/ForeignKey', (ctx) => {
    const a = appointmentOf(ctx);
    return { status: 200, body: Object.fromEntries(ctx.store.foreignKeys.filter((k) => k.tableName === 'appointment' && k.recordId === a.id).map((k) => [`${k.application}.${k.device}.${k.key}`, k.value])) };
  });
  add('GET', 'Appointment/{id}/Participants', (ctx) => {
    const a = appointmentOf(ctx);
    const rows = a.participants.map((p) => ({ associateId: p.associateId, personId: p.personId, contactId: p.contactId, emailAddress: p.emailAddress, invitationStatus: p.invitationStatus }));
    return archive(ctx, `Appointment/${a.id}/Participants`, { associateId: 'associate', personId: 'int', contactId: 'int', emailAddress: 'string', invitationStatus: 'string' }, rows);
  });

  // ── the Appointment agent: series and bookings with an update mode ──
  add('POST', 'Agents/Appointment/Save', (ctx) => {
    ctx.checkRequest(D.saveRequest);
    const body = (ctx.body ?? {}) as Json;
    const entity = (body.AppointmentEntity ?? {}) as Json;
    const mode = String(body.UpdateMode ?? 'Unknown');
    const id = typeof entity.AppointmentId === 'number' ? entity.AppointmentId : 0;
    const { fields, rule } = appointmentFields(ctx.store, entity, ctx.user);
    if (!id) return { status: 200, body: appointmentJson(ctx.store, ctx.store.createAppointment(fields, ctx.user.id, rule), ctx.base, false), definition: D.appointment };
    const a = ctx.store.appointments.get(id);
    if (!a) throw new NotFound(`Appointment id ${id} not found`);
    const changedRule = rule && a.recurrenceRuleId && JSON.stringify(rule) !== JSON.stringify(ctx.store.rules.get(a.recurrenceRuleId)?.rule);
    if (changedRule && (mode === 'ThisAndForward' || mode === 'Unknown')) {
      // a new pattern: the series laid out again from this row on
      ctx.store.relaySeries(a, fields, rule, ctx.user.id);
      return { status: 200, body: appointmentJson(ctx.store, ctx.store.appointments.get(a.id)!, ctx.base, false), definition: D.appointment };
    }
    const rows = seriesRowsFor(ctx.store, a, mode);
    const shift = fields.start - a.start;
    const duration = fields.end - fields.start;
    // the whole series moved from its first row on: its pattern starts that much later too
    const r = a.recurrenceRuleId ? ctx.store.rules.get(a.recurrenceRuleId) : undefined;
    if (r && mode !== 'OnlyThis' && rows.length > 1 && ctx.store.seriesRows(r.id, a.associateId)[0]?.id === a.id) Object.assign(r, { start: r.start + shift, duration });
    for (const row of rows) {
      const own = row.id === a.id;
      // the other rows keep their own day; the change of time of day moves them alike
      ctx.store.updateAppointment(row.id, { ...fields, start: own ? fields.start : row.start + shift, end: own ? fields.end : row.start + shift + duration, ...(mode === 'StopRecurrence' ? { recurrenceRuleId: 0 } : {}) }, ctx.user.id);
    }
    return { status: 200, body: appointmentJson(ctx.store, ctx.store.appointments.get(a.id)!, ctx.base, false), definition: D.appointment };
  });
  add('POST', 'Agents/Appointment/Delete', (ctx) => {
    ctx.checkRequest(D.deleteRequest);
    const body = (ctx.body ?? {}) as Json;
    const a = ctx.store.appointments.get(Number(body.AppointmentId));
    if (!a) throw new NotFound(`Appointment id ${String(body.AppointmentId)} not found`);
    for (const row of seriesRowsFor(ctx.store, a, String(body.UpdateMode ?? 'OnlyThis'))) {
      // deleting a booking's master deletes the participants' rows too
      const rows = row.motherId === row.id ? ctx.store.bookingRows(row.id) : [row];
      for (const r of rows) ctx.store.deleteAppointment(r.id, ctx.user.id);
    }
    return { status: 204 };
  });

  // ── persons, companies, users ──
  add('GET', 'Person', (ctx) => {
    // the users, by their own person: correspondingAssociate/… are the user's columns
    const userOf = new Map([...ctx.store.associates.values()].map((a) => [a.personId, a]));
    return archive(ctx, 'Person', PERSON_COLUMNS, [...ctx.store.persons.values()].map((p) => {
      const user = userOf.get(p.id);
      return {
        personId: p.id, firstName: p.firstname, lastName: p.lastname, contactId: p.contactId, email: p.email, associateId: p.details.associateId,
        personUpdatedDate: soDate(p.updated), personUpdatedBy: p.updatedBy, personRegisteredDate: soDate(p.registered),
        'correspondingAssociate/associateDbId': user?.id ?? null, 'correspondingAssociate/userName': user?.userName ?? null,
        'correspondingAssociate/personEmail': user ? p.email : null, 'correspondingAssociate/isActive': user ? !user.deleted : null,
        ...Object.fromEntries(PERSON_CUSTOM_FIELDS.map((f) => [f.column, archiveValue(f, p.details.customFields[f.key])])),
      };
    }));
  });
  add('POST', 'Person', (ctx) => {
    ctx.checkRequest(D.person);
    const p = ctx.store.addPerson(personFields(ctx.store, (ctx.body ?? {}) as Json), ctx.user.id);
    return { status: 200, body: personJson(ctx.store, p, ctx.base), definition: D.personWithLinks };
  });
  add('PUT', 'Person/{id}', (ctx) => {
    ctx.checkRequest(D.person);
    const p = ctx.store.persons.get(num(ctx.params[0]));
    if (!p) throw new NotFound(`Person id ${ctx.params[0]} not found`);
    const stale = unmodifiedSince(ctx, p.updated);
    if (stale) return stale;
    const fields = personFields(ctx.store, (ctx.body ?? {}) as Json);
    // a custom field the body leaves out keeps its value
    fields.details.customFields = { ...p.details.customFields, ...fields.details.customFields };
    return { status: 200, body: personJson(ctx.store, ctx.store.updatePerson(p.id, fields, ctx.user.id), ctx.base), definition: D.personWithLinks };
  });
  add('GET', 'Person/{id}', (ctx) => {
    const p = ctx.store.persons.get(num(ctx.params[0]));
    if (!p) throw new NotFound(`Person id ${ctx.params[0]} not found`);
    return { status: 200, body: personJson(ctx.store, p, ctx.base), definition: D.personWithLinks };
  });
  add('DELETE', 'Person/{id}', (ctx) => {
    if (!ctx.store.deletePerson(num(ctx.params[0]), ctx.user.id)) throw new NotFound(`Person id ${ctx.params[0]} not found`);
    return { status: 204 };
  });
  add('GET', 'Contact', (ctx) => archive(ctx, 'Contact', CONTACT_COLUMNS, [...ctx.store.contacts.values()].map((c) => ({ contactId: c.id, name: c.name, department: c.department, updatedDate: soDate(c.updated) }))));
  add('POST', 'Contact', (ctx) => {
    ctx.checkRequest(D.contact);
    const b = (ctx.body ?? {}) as Json;
    return { status: 200, body: contactJson(ctx.store, ctx.store.addContact(String(b.Name ?? ''), ctx.user.id, String(b.Department ?? '')), ctx.base), definition: D.contactWithLinks };
  });
  add('GET', 'Contact/{id}', (ctx) => {
    const c = ctx.store.contacts.get(num(ctx.params[0]));
    if (!c) throw new NotFound(`Contact id ${ctx.params[0]} not found`);
    return { status: 200, body: contactJson(ctx.store, c, ctx.base), definition: D.contactWithLinks };
  });
  add('GET', 'User', (ctx) => archive(ctx, 'User', USER_COLUMNS, [...ctx.store.associates.values()].map((a) => ({
    associateId: a.id, name: a.userName, userName: a.userName, personId: a.personId, email: ctx.store.emailOf(a.id), deleted: a.deleted, type: a.type,
  }))));
  add('GET', 'User/currentAssociate', (ctx) => ({ status: 200, body: associateJson(ctx.store, ctx.user.id), definition: D.associate }));
  add('GET', 'User/{id}', (ctx) => {
    const a = /^\d+$/.test(ctx.params[0]) ? ctx.store.associates.get(Number(ctx.params[0])) : ctx.store.associateByLogin(decodeURIComponent(ctx.params[0]));
    if (!a) throw new NotFound(`User ${ctx.params[0]} not found`);
    return { status: 200, body: userJson(ctx.store, a, ctx.base), definition: D.userWithLinks };
  });
  add('GET', 'TimeZone', (ctx) => archive(ctx, 'TimeZone', TZ_COLUMNS, tzLocations().map((t) => ({ TZLocationID: t.id, Name: t.name, TZLocationCode: t.code, TZLocationCities: t.cities }))));

  // ── selections: static lists of persons a user keeps ──
  const selectionOf = (ctx: RouteContext): SoSelection => {
    const sel = ctx.store.selections.get(num(ctx.params[0]));
    if (!sel) throw new NotFound(`Selection id ${ctx.params[0]} not found`);
    return sel;
  };
  add('POST', 'Selection', (ctx) => {
    ctx.checkRequest(D.selection);
    const b = (ctx.body ?? {}) as Json;
    if (b.SelectionType !== undefined && b.SelectionType !== 'Static') throw new Refused('the simulator keeps static selections only');
    if (b.TargetTableName !== undefined && String(b.TargetTableName).toLowerCase() !== 'contact') throw new Refused('the simulator keeps selections of companies and their persons only');
    const owner = b.Associate && typeof b.Associate === 'object' ? Number((b.Associate as Json).AssociateId ?? 0) || ctx.user.id : ctx.user.id;
    const sel = ctx.store.addSelection({ name: String(b.Name ?? ''), description: String(b.Description ?? ''), associateId: owner, includePerson: b.IncludePerson === undefined || Number(b.IncludePerson) !== 0 }, ctx.user.id);
    return { status: 200, body: selectionJson(ctx.store, sel, ctx.base), definition: D.selectionWithLinks };
  });
  add('GET', 'Selection', (ctx) => archive(ctx, 'Selection', SELECTION_COLUMNS, [...ctx.store.selections.values()].map((sel) => ({
    selectionId: sel.id, name: sel.name, associateId: sel.associateId, includePerson: sel.includePerson, updatedDate: soDate(sel.updated), lastMembershipChange: soDate(sel.lastMembershipChange),
  }))));
  add('GET', 'Selection/{id}', (ctx) => ({ status: 200, body: selectionJson(ctx.store, selectionOf(ctx), ctx.base), definition: D.selectionWithLinks }));
  add('PATCH', 'Selection/{id}', (ctx) => {
    const sel = selectionOf(ctx);
    const next = patched(selectionJson(ctx.store, sel, ctx.base), ctx.body);
    if (next === 'test-failed') return { status: 412, body: soError('SoPreconditionFailed', 'a test operation failed') };
    return { status: 200, body: selectionJson(ctx.store, ctx.store.renameSelection(sel.id, { name: String(next.Name ?? sel.name), description: String(next.Description ?? sel.description) }, ctx.user.id), ctx.base), definition: D.selectionWithLinks };
  });
  add('DELETE', 'Selection/{id}', (ctx) => {
    if (!ctx.store.deleteSelection(num(ctx.params[0]))) throw new NotFound(`Selection id ${ctx.params[0]} not found`);
    return { status: 204 };
  });
  add('GET', 'Selection/{id}/Members', (ctx) => {
    const sel = selectionOf(ctx);
    const rows = [...sel.memberPersonIds].map((id) => ctx.store.persons.get(id)).filter((p) => p !== undefined).map((p) => ({ personId: p.id, contactId: p.contactId, firstName: p.firstname, lastName: p.lastname, email: p.email }));
    return archive(ctx, `Selection/${sel.id}/Members`, MEMBER_COLUMNS, rows);
  });
  for (const [path, change] of [['AddPerson', 'add'], ['RemovePerson', 'remove']] as const) {
    add('POST', `Selection/{id}/Members/${path}`, (ctx) => {
      ctx.checkRequest(D.contactPersonIds);
      const sel = selectionOf(ctx);
      const ids = Array.isArray(ctx.body) ? (ctx.body as Json[]) : [];
      // a ContactPersonId names a person, or (PersonId 0) a company: all its persons
      const persons = ids.flatMap((c) => Number(c.PersonId ?? 0) ? [Number(c.PersonId)] : [...ctx.store.persons.values()].filter((p) => p.contactId === Number(c.ContactId ?? 0)).map((p) => p.id));
      ctx.store.changeMembers(sel.id, persons, change, ctx.user.id);
      return { status: 204 };
    });
  }

  // ── foreign keys: the sync's stamp on a record ──
  add('POST', 'ForeignApp/{app}/{device}/{identifier}/Key', (ctx) => {
    ctx.checkRequest(D.foreignKey);
    const b = (ctx.body ?? {}) as Json;
    const table = String(b.TableName ?? '').toLowerCase();
    const recordId = Number(b.RecordId ?? 0);
    if (table === 'appointment' && !ctx.store.appointments.has(recordId)) throw new NotFound(`Appointment id ${recordId} not found`);
    const [application, device, deviceIdentifier] = ctx.params.map(decodeURIComponent);
    const k = ctx.store.setForeignKey({ application, device, deviceIdentifier, key: String(b.Key ?? ''), value: String(b.Value ?? ''), tableName: table, recordId });
    return { status: 200, body: foreignKeyJson(k), definition: D.foreignKey };
  });
  add('GET', 'ForeignApp/{app}/{device}/Key/{key}/{table}', (ctx) => {
    const [application, device, key, table] = ctx.params.map(decodeURIComponent);
    const value = ctx.query.get('keyValue') ?? '';
    const k = ctx.store.foreignKeys.find((f) => f.application === application && f.device === device && f.key === key && f.tableName === table.toLowerCase() && f.value === value);
    // the Web API answers an empty key (RecordId 0) when no key has that value
    return { status: 200, body: k ? foreignKeyJson(k) : { Key: key, Value: value, RecordId: 0, TableName: table, CreatedDate: null, UpdatedDate: null, UpdatedBy: '', CreatedBy: '' }, definition: D.foreignKey };
  });
  add('DELETE', 'ForeignApp/{app}/{device}/{identifier}/Key/{key}/{table}/{recordId}', (ctx) => {
    const [application, device, deviceIdentifier, key, table] = ctx.params.map(decodeURIComponent);
    const recordId = num(ctx.params[5]);
    const at = ctx.store.foreignKeys.findIndex((f) => f.application === application && f.device === device && f.deviceIdentifier === deviceIdentifier && f.key === key && f.tableName === table.toLowerCase() && f.recordId === recordId);
    if (at < 0) throw new NotFound('no such foreign key');
    ctx.store.foreignKeys.splice(at, 1);
    return { status: 204 };
  });

  // ── webhooks ──
  add('GET', 'Webhook', (ctx) => {
    const name = ctx.query.get('nameFilter');
    const event = ctx.query.get('eventFilter');
    const hooks = [...ctx.store.webhooks.values()].filter((h) => (!name || h.name === name) && (!event || h.events.includes(event)));
    return { status: 200, body: hooks.map((h) => webhookJson(ctx, h, false)), definition: `${D.webhook}[]` };
  });
  add('POST', 'Webhook', (ctx) => {
    ctx.checkRequest(D.webhook);
    const b = (ctx.body ?? {}) as Json;
    const events = Array.isArray(b.Events) ? (b.Events as unknown[]).map(String) : [];
    const target = String(b.TargetUrl ?? '');
    if (!events.length) throw new Refused('a webhook needs Events');
    if (!/^https?:\/\//.test(target)) throw new Refused('TargetUrl must be an http(s) URL');
    const at = ctx.store.now();
    const h = {
      id: ctx.store.next('webhook'), name: String(b.Name ?? ''), events, targetUrl: target, secret: String(b.Secret ?? ''), state: b.State === 'Stopped' ? 'Stopped' as const : 'Active' as const,
      type: String(b.Type ?? 'webhook') || 'webhook', registered: at, registeredBy: ctx.user.id, updated: at, totalCalls: 0, totalErrors: 0, consecutiveErrors: 0, lastError: '',
    };
    ctx.store.webhooks.set(h.id, h);
    return { status: 200, body: webhookJson(ctx, h, true), definition: D.webhookWithLinks };
  });
  add('GET', 'Webhook/{id}', (ctx) => {
    const h = ctx.store.webhooks.get(num(ctx.params[0]));
    if (!h) throw new NotFound(`Webhook id ${ctx.params[0]} not found`);
    return { status: 200, body: webhookJson(ctx, h, true), definition: D.webhookWithLinks };
  });
  add('DELETE', 'Webhook/{id}', (ctx) => {
    if (!ctx.store.webhooks.delete(num(ctx.params[0]))) throw new NotFound(`Webhook id ${ctx.params[0]} not found`);
    return { status: 204 };
  });
  return routes;
}

function foreignKeyJson(k: { key: string; value: string; recordId: number; tableName: string; registered: number; updated: number }): Json {
  return { Key: k.key, Value: k.value, RecordId: k.recordId, TableName: k.tableName, CreatedDate: soDate(k.registered), UpdatedDate: soDate(k.updated), UpdatedBy: '', CreatedBy: '' };
}

/** The secret is never read back (as on SuperOffice: write-only). */
function webhookJson(ctx: RouteContext, h: { id: number; name: string; events: string[]; targetUrl: string; state: string; type: string; registered: number; registeredBy: number; updated: number; totalCalls: number; totalErrors: number; consecutiveErrors: number; lastError: string }, links: boolean): Json {
  return {
    WebhookId: h.id, Name: h.name, Events: h.events, TargetUrl: h.targetUrl, Secret: '', State: h.state, Type: h.type, Headers: {}, Properties: {},
    Registered: soDate(h.registered), RegisteredAssociate: associateJson(ctx.store, h.registeredBy), Updated: soDate(h.updated), UpdatedAssociate: associateJson(ctx.store, h.registeredBy),
    ErrorEmails: [], Description: '', TotalCalls: h.totalCalls, TotalErrors: h.totalErrors, ConsecutiveErrors: h.consecutiveErrors, LastError: h.lastError,
    ...(links ? { _Links: { Self: `${ctx.base}/api/v1/Webhook/${h.id}` } } : {}),
  };
}

