import { CrmError } from '../../shared/errors.js';
import type { ItemFields } from '../../shared/item-fields.js';
import type { Logger } from '../../shared/logger.js';
import { Limiter } from '../../shared/limiter.js';
import {
  crmRef, parseCrmRef, type ActivityKind, type CrmActivity, type CrmAssociate, type CrmChange, type CrmChangeBatch, type CrmChangeFeed, type CrmDirectory,
  type CrmPerson, type CrmPersonLink, type CrmPort, type CrmRecordVersion, type CrmRef, type CrmSelection, type CrmWriteOutcome, type MappedRecords,
} from '../crm-port.js';
import { formatUtc } from '../../shared/time-zones.js';
import { expand, infoFromRule, ruleFromInfo, type RecurrenceRule } from '../../shared/superoffice-recurrence.js';
import { entityOf, fieldsOf, kindOf, parseSoDate, type AppointmentEntity, type TaskListItem } from './appointment-fields.js';
import { isOpenRrule, matchRows, parseSeriesRef, ruleOfRrule, rruleOfRule, seriesRef, templateRowOf, type SeriesRow } from './series.js';
import { decodePosition, encodePosition, type FeedPosition } from './feed-position.js';
import type { SuperOfficeHttp } from './superoffice-http.js';
import { TimeZoneLocations } from './time-zone-locations.js';
import { startWebhookReceiver, type WebhookEvent } from './webhook-receiver.js';
import { SuperOfficePersons } from './persons.js';
import { idOf, quote, readArchive, type ArchivePage } from './archive.js';
import { UserDirections, type UserDirection } from './user-directions.js';

export interface SuperOfficeCrmOptions {
  readonly http: SuperOfficeHttp;
  /** The tenant (its Web API URL): the sync's state belongs to it. */
  readonly tenant: string;
  /** ForeignApp application and device names of the sync's stamps. */
  readonly application: string;
  readonly device: string;
  /**
   * Webhooks: where this process listens, the address SuperOffice POSTs to (one it can reach;
   * default: the listening address), and the shared secret.
   */
  readonly webhook?: { readonly url?: string; readonly listen: { readonly host: string; readonly port: number }; readonly secret: string };
  /** The sync's mapped records, to find deletes whose webhook was lost. */
  readonly mapped?: MappedRecords;
  readonly reconcileIntervalMs: number;
  /** Changes younger than this may still be committing: read again until they are older. */
  readonly settleMs: number;
  readonly logger: Logger;
  readonly onWebhook?: (outcome: 'accepted' | 'refused') => void;
  /** A never-ending series is bounded this far ahead (SuperOffice needs an end): the sync window. */
  readonly seriesBoundDays?: number;
  /** The Person archive column of the field holding each user's direction (<crm directionField>). */
  readonly directionField?: string;
}

/** A series as SuperOffice has it: its rows, its rule, and which occurrence each row is. */
interface Series {
  readonly ref: CrmRef;
  readonly ruleId: number;
  readonly associateId: number;
  readonly rule: RecurrenceRule;
  readonly patternStart: number;
  readonly rows: ReadonlyArray<SeriesRow & { updated: string; updatedAt: number; updatedBy: number }>;
  /** The row whose fields are the series' own. */
  readonly template: AppointmentEntity;
  readonly duration: number;
  readonly slotOf: ReadonlyMap<SeriesRow, number>;
  readonly exdates: readonly number[];
  /** Never-ending in Exchange: the end date is the sync's bound, moved on as the window moves. */
  readonly open: boolean;
}

interface ArchiveRow {
  appointmentId: number;
  recurrenceRuleId: number;
  updatedDate: string;
  registeredDate: string;
  updatedBy: number;
  associateId: number;
}

interface PendingDelete {
  readonly seq: number;
  readonly ref: CrmRef;
  readonly mailbox: string;
  readonly time: number;
  /** A series whose row was deleted: read again (an occurrence less), not deleted. */
  readonly refresh?: boolean;
}

const STAMP_KEY = 'item';
/** The foreign key on a recurrence rule that marks a series the sync bounded (Exchange's has no end). */
const OPEN_KEY = 'open';
const DAY = 86_400_000;
/** An open series is extended once less than this share of the sync window is left of it. */
const EXTEND_BELOW = 0.9;
const USERS_TTL_MS = 60_000;
const WEBHOOK_EVENTS = ['activity.created', 'activity.changed', 'activity.deleted', 'person.created', 'person.changed', 'person.deleted'];

/** A row's version, as the feed remembers what it published. */
const rowKey = (row: ArchiveRow): string => `${row.appointmentId}@${row.updatedDate}`;
/** Appointments the change feed reads at once. */
const FEED_READS = 8;

/** Does the entity hold these values already (a link counts as held: links are only ever added)? */
function sameFields(e: AppointmentEntity, values: Record<string, unknown>): boolean {
  return Object.entries(values).every(([k, v]) => k === 'Person' || k === 'Contact' || JSON.stringify(e[k] ?? '') === JSON.stringify(v ?? ''));
}
/** A booking participant the sync writes: a CRM person (colleagues' rows come from their own mailboxes). */
interface Participant {
  readonly PersonId: number;
  readonly ContactId: number;
}

/**
 * The participants to write, or undefined when the record has these persons already. The
 * associates among its participants stay (a booking made in SuperOffice keeps its colleagues).
 */
function participantsChange(e: AppointmentEntity, wanted: Participant[] | undefined): Array<Record<string, number>> | undefined {
  if (!wanted) return undefined;
  const current = Array.isArray(e.Participants) ? (e.Participants as Array<{ AssociateId?: number; PersonId?: number; ContactId?: number }>) : [];
  const colleagues = current.filter((p) => (p.AssociateId ?? 0) > 0);
  const persons = current.filter((p) => !((p.AssociateId ?? 0) > 0)).map((p) => p.PersonId ?? 0).sort((a, b) => a - b);
  if (JSON.stringify(persons) === JSON.stringify(wanted.map((p) => p.PersonId).sort((a, b) => a - b))) return undefined;
  return [...colleagues.map((p) => ({ AssociateId: p.AssociateId ?? 0, PersonId: p.PersonId ?? 0, ContactId: p.ContactId ?? 0 })), ...wanted.map((p) => ({ ...p }))];
}

const httpDate = (version: string): string => new Date(parseSoDate(version) ?? 0).toUTCString();

/**
 * SuperOffice CRM's Web API behind the CRM port. Changes come from the FindAppointment archive
 * polled on updatedDate — the truth, which catches whatever a webhook missed — woken at once
 * by signed webhooks; deletes, which the archive cannot show, come from `activity.deleted`
 * webhooks and from a periodic check of the mapped records against the CRM. The sync's own
 * writes are told apart by the API user's associate id (UpdatedBy), never by timing. Writes
 * are conditional: a JSON Patch that tests UpdatedDate, sent with If-Unmodified-Since.
 */
export class SuperOfficeCrm implements CrmPort, CrmChangeFeed, CrmDirectory {
  readonly name = 'superoffice';
  readonly identity: string;
  readonly description: string;
  private users = new Map<string, number>();
  private emails = new Map<number, string>();
  /** The Task list, read when a type is first written. */
  private taskList: Promise<TaskListItem[]> | undefined;
  /** The persons that are the users themselves: an attendee who is one is a colleague, not a contact. */
  private userPersons = new Set<number>();
  private usersRead = 0;
  private readonly pending: PendingDelete[] = [];
  private deleteSeq = 0;
  /** Unsettled changes handed out with a batch position; acknowledged when that position comes back. */
  private lastBatch: { position: string; keys: string[] } | undefined;
  private readonly acked = new Map<string, number>();
  /**
   * Owners of the records the feed handed out lately: SuperOffice's delete webhook names no
   * owner, and a record deleted right after its create may not be mapped yet — its delete must
   * still follow its create into the same partition.
   */
  private readonly owners = new Map<CrmRef, { email: string; series?: CrmRef }>();
  /** Deletes of rows not yet handed out when their webhook came (a read may be under way): settled when the row is. */
  private readonly deletedEarly = new Map<CrmRef, number>();
  /** Series rules known to end where their user said (not open): the check of mapped records skips them. */
  private readonly bounded = new Set<number>();

  private readonly people: SuperOfficePersons;
  private readonly directions: UserDirections | undefined;

  private constructor(private readonly options: SuperOfficeCrmOptions, private readonly apiAssociateId: number, private readonly zones: TimeZoneLocations) {
    this.identity = `superoffice:${options.tenant}`;
    this.description = `SuperOffice users of ${options.tenant}`;
    this.directions = options.directionField ? new UserDirections(options.http, options.directionField, options.logger) : undefined;
    this.people = new SuperOfficePersons({ http: options.http, apiAssociateId, application: options.application, device: options.device, emailOf: (id) => this.emailOf(id) });
  }

  /** Logs in (the API user's associate id tells the sync's own writes) and reads the time zone locations. */
  static async open(options: SuperOfficeCrmOptions): Promise<SuperOfficeCrm> {
    const me = await options.http.request<{ AssociateId: number }>('GET', '/User/currentAssociate');
    const zones = await options.http.request<ArchivePage<{ TZLocationID: number; TZLocationCities: string }>>('GET', '/TimeZone?$select=TZLocationID,TZLocationCities');
    const crm = new SuperOfficeCrm(options, me.body.AssociateId, new TimeZoneLocations(zones.body.value.map((z) => ({ id: z.TZLocationID, cities: z.TZLocationCities ?? '' }))));
    await crm.readUsers();
    return crm;
  }

  close(): void {
    this.options.http.close();
  }

  // ── users ──

  private async readUsers(): Promise<void> {
    const rows = await this.archive<{ associateId: number; personId: number; email: string; type: string; deleted: boolean }>('/User?$select=associateId,personId,email,type,deleted&$filter=deleted set 0');
    this.users = new Map(rows.filter((r) => r.type !== 'SystemAssociate' && r.email).map((r) => [r.email.toLowerCase(), r.associateId]));
    this.emails = new Map(rows.filter((r) => r.email).map((r) => [r.associateId, r.email]));
    this.userPersons = new Set(rows.map((r) => r.personId).filter(Boolean));
    this.usersRead = Date.now();
  }

  private async emailOf(associateId: number): Promise<string | undefined> {
    if (!this.emails.has(associateId) && Date.now() - this.usersRead > 5_000) await this.readUsers();
    return this.emails.get(associateId);
  }

  /** Each user's direction, from the field <crm directionField> names on the user's person card (none without it). */
  async mailboxDirections(): Promise<ReadonlyMap<string, UserDirection>> {
    return this.directions ? this.directions.read() : new Map();
  }

  async activeAssociateEmails(): Promise<string[]> {
    await this.readUsers();
    return [...this.users.keys()];
  }

  async associateByEmail(email: string): Promise<CrmAssociate | undefined> {
    if (Date.now() - this.usersRead > USERS_TTL_MS || (!this.users.has(email.toLowerCase()) && Date.now() - this.usersRead > 5_000)) await this.readUsers();
    const id = this.users.get(email.toLowerCase());
    return id === undefined ? undefined : { ref: crmRef('associate', id), email: this.emails.get(id) ?? email };
  }

  // ── records ──

  private async entity(id: number): Promise<AppointmentEntity | undefined> {
    const r = await this.options.http.request<AppointmentEntity>('GET', `/Appointment/${id}`, undefined, { expect: [404] });
    return r.status === 404 ? undefined : r.body;
  }

  private async activityOf(e: AppointmentEntity): Promise<CrmActivity> {
    const owner = e.Associate?.AssociateId ?? 0;
    const email = await this.emailOf(owner);
    return {
      ref: crmRef('appointment', e.AppointmentId), kind: kindOf(e), owner: crmRef('associate', owner), ownerEmail: email, fields: fieldsOf(e, this.zones, email),
      version: e.UpdatedDate ?? '', writtenBySync: e.UpdatedBy?.AssociateId === this.apiAssociateId,
    };
  }

  async get(ref: CrmRef): Promise<CrmActivity | undefined> {
    const series = parseSeriesRef(ref);
    if (series) {
      const s = await this.series(series.ruleId, series.associateId);
      return s ? this.seriesActivity(s) : undefined;
    }
    const id = idOf(ref, 'appointment');
    if (id === undefined) return undefined;
    const e = await this.entity(id);
    if (!e) return undefined;
    const ruleId = e.Recurrence?.IsRecurrence ? (e.Recurrence.RecurrenceId ?? 0) : 0;
    if (!ruleId) return this.activityOf(e);
    const s = await this.series(ruleId, e.Associate?.AssociateId ?? 0);
    return s ? this.occurrenceActivity(s, e) : this.activityOf(e);
  }

  // ── series: one row per occurrence in SuperOffice, one record to the sync ──

  /** The series of rule `ruleId` in the associate's diary, undefined when it has no row left. */
  private async series(ruleId: number, associateId: number): Promise<Series | undefined> {
    let rows: Array<SeriesRow & { updated: string; updatedAt: number; updatedBy: number }> = [];
    let first: AppointmentEntity | undefined;
    // the archive and the entity are two requests: a row deleted between them (a user, another
    // writer) is read again; a series still changing after that is retried by the caller
    for (let attempt = 0; !first; attempt++) {
      rows = (await this.archive<{ appointmentId: number; date: string; endDate: string; text: string; updatedDate: string; updatedBy: number }>(
        `/Appointment?$select=appointmentId,date,endDate,text,updatedDate,updatedBy&$filter=${encodeURIComponent(`recurrenceRuleId equals ${ruleId} and associateId equals ${associateId}`)}&$orderBy=date,appointmentId`))
        .map((r) => ({ appointmentId: r.appointmentId, start: parseSoDate(r.date) ?? 0, end: parseSoDate(r.endDate) ?? 0, title: r.text ?? '', updated: r.updatedDate, updatedAt: parseSoDate(r.updatedDate) ?? 0, updatedBy: r.updatedBy }));
      if (!rows.length) return undefined;
      first = await this.entity(rows[0].appointmentId);
      if (!first && attempt >= 2) throw new CrmError('SERIES_CHANGING', `the SuperOffice series ${ruleId} of associate ${associateId} changed while it was read`, { retriable: true });
    }
    const info = first.Recurrence as Record<string, unknown> | null | undefined;
    const rule = info ? ruleFromInfo(info) : 'no recurrence';
    const patternStart = parseSoDate(info?.StartDate as string | undefined);
    if (typeof rule === 'string' || patternStart === undefined) throw new CrmError('SERIES_UNREADABLE', `the SuperOffice series ${ruleId} cannot be read: ${typeof rule === 'string' ? rule : 'no start'}`);
    const { slotOf, unmatched } = matchRows(rule, patternStart, rows);
    // the series' own fields (a user who renames one occurrence — even the first — makes an
    // exception, not a new series title)
    const templateRow = templateRowOf(rows, (r) => slotOf.get(r) === r.start, this.apiAssociateId) ?? rows[0];
    const template = templateRow === rows[0] ? first : ((await this.entity(templateRow.appointmentId)) ?? first);
    const open = rule.endType === 'EndDate' && (await this.isOpen(ruleId));
    return { ref: seriesRef(ruleId, associateId), ruleId, associateId, rule, patternStart, rows, template, duration: templateRow.end - templateRow.start, slotOf, exdates: unmatched, open };
  }

  private async seriesActivity(s: Series): Promise<CrmActivity> {
    const base = await this.activityOf(s.template);
    const start = s.patternStart;
    const newest = s.rows.reduce((a, b) => ((parseSoDate(b.updated) ?? 0) > (parseSoDate(a.updated) ?? 0) ? b : a));
    const version = `${newest.updated}|${s.rows.length}`;
    const fields: ItemFields = {
      ...base.fields, start: formatUtc(start), ...(base.kind === 'task' ? { due: formatUtc(start + s.duration) } : { end: formatUtc(start + s.duration) }),
      recurrence: { rrule: rruleOfRule(s.rule, start, s.open), exdates: s.exdates.map(formatUtc), exceptions: [] }, crmId: s.ref, version,
      // the series changed when any of its rows did: both handlers weigh a conflict by this time
      modified: formatUtc(parseSoDate(newest.updated) ?? 0),
    };
    return { ...base, ref: s.ref, fields, version, writtenBySync: newest.updatedBy === this.apiAssociateId };
  }

  /** A row of a series: an exception record (it differs from its occurrence) or a plain occurrence, tied to its series. */
  private async occurrenceActivity(s: Series, e: AppointmentEntity): Promise<CrmActivity> {
    const a = await this.activityOf(e);
    const row = s.rows.find((r) => r.appointmentId === e.AppointmentId);
    const slot = row ? s.slotOf.get(row) : undefined;
    return { ...a, fields: { ...a.fields, recurrence: null, seriesRef: s.ref, ...(slot !== undefined ? { originalStart: formatUtc(slot) } : {}) } };
  }

  /** A row differs from its occurrence: other times, or another title than the series'. */
  private isException(s: Series, row: SeriesRow): boolean {
    const slot = s.slotOf.get(row);
    return slot === undefined || row.start !== slot || row.end - row.start !== s.duration || row.title !== (s.template.Title ?? '');
  }

  async create(owner: CrmRef, kind: ActivityKind, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    const associate = idOf(owner, 'associate');
    if (associate === undefined) throw new CrmError('NOT_AN_ASSOCIATE', `${owner} is not a SuperOffice associate`);
    const inSeries = parseSeriesRef(fields.seriesRef);
    if (inSeries && fields.originalStart) return this.writeOccurrence(inSeries, fields);
    const mother = idOf(fields.motherRef, 'appointment');
    const start = fields.start ? Date.parse(fields.start) : undefined;
    let rule: RecurrenceRule | undefined;
    if (fields.recurrence) {
      const r = start === undefined ? 'a series needs a start' : ruleOfRrule(fields.recurrence.rrule, start, this.bound());
      if (typeof r === 'string') throw new CrmError('RECURRENCE_NOT_SUPPORTED', r);
      rule = r;
    }
    const participants = await this.participantsOf(this.emails.get(associate), kind, fields);
    const task = await this.taskOf(kind, fields.crmType);
    const r = await this.options.http.request<AppointmentEntity>('POST', '/Appointment', {
      Associate: { AssociateId: associate }, ...entityOf(kind, fields, this.zones), ...(task ? { Task: task } : {}), ...(participants?.length ? { Participants: participants } : {}), ...(mother ? { MotherId: mother } : {}), ...(rule && start !== undefined ? { Recurrence: infoFromRule(rule, start) } : {}),
    });
    if (!rule) {
      // the stamp is a second write: a crash before it leaves an unstamped record, which
      // findStamped finds again by what it holds
      await this.stamp(r.body.AppointmentId, stamp);
      return { ref: crmRef('appointment', r.body.AppointmentId), version: r.body.UpdatedDate ?? '' };
    }
    const ruleId = r.body.Recurrence?.RecurrenceId ?? 0;
    if (fields.recurrence && isOpenRrule(fields.recurrence.rrule)) await this.markOpen(ruleId, true);
    await this.deleteOccurrences(ruleId, associate, fields.recurrence?.exdates ?? []);
    const s = await this.series(ruleId, associate);
    if (!s) throw new CrmError('SERIES_EMPTY', `every occurrence of ${fields.recurrence?.rrule} is an EXDATE`);
    await this.stamp(s.rows[0].appointmentId, stamp);
    return { ref: s.ref, version: (await this.seriesActivity(s)).version };
  }

  /** Deletes the rows of the occurrences at `exdates` (their original starts). */
  private async deleteOccurrences(ruleId: number, associateId: number, exdates: readonly string[]): Promise<void> {
    if (!exdates.length) return;
    const s = await this.series(ruleId, associateId);
    if (!s) return;
    const gone = new Set(exdates.map((d) => Date.parse(d)));
    for (const row of s.rows) {
      const slot = s.slotOf.get(row);
      if (slot !== undefined && gone.has(slot)) await this.options.http.request('POST', '/Agents/Appointment/Delete', { AppointmentId: row.appointmentId, UpdateMode: 'OnlyThis', SendEmailToParticipants: false }, { expect: [404] });
    }
  }

  /** An exception of a series: the row of that occurrence gets its own times, title and place. */
  private async writeOccurrence(series: { ruleId: number; associateId: number }, fields: ItemFields): Promise<{ ref: CrmRef; version: string }> {
    const s = await this.series(series.ruleId, series.associateId);
    const slot = Date.parse(fields.originalStart ?? '');
    const row = s?.rows.find((r) => s.slotOf.get(r) === slot);
    if (!s || !row) throw new CrmError('NO_SUCH_OCCURRENCE', `the SuperOffice series ${fields.seriesRef} has no occurrence at ${fields.originalStart}`);
    const written = await this.patch(row.appointmentId, { Title: fields.subject ?? '', Location: fields.location ?? '', StartDate: fields.start, EndDate: fields.end ?? fields.start });
    return { ref: crmRef('appointment', row.appointmentId), version: written };
  }

  /** A JSON Patch of some properties; returns the new UpdatedDate. */
  private async patch(id: number, values: Record<string, unknown>): Promise<string> {
    const r = await this.options.http.request<AppointmentEntity>('PATCH', `/Appointment/${id}`, Object.entries(values).filter(([, v]) => v !== undefined).map(([k, v]) => ({ op: 'replace', path: `/${k}`, value: v })));
    return r.body.UpdatedDate ?? '';
  }

  /** A series' exception is no longer one (Exchange says the occurrence is as the series): its row is set back. */
  async restoreOccurrence(ref: CrmRef): Promise<boolean> {
    const a = await this.get(ref);
    const series = parseSeriesRef(a?.fields.seriesRef);
    if (!a || !series || !a.fields.originalStart) return false;
    const s = await this.series(series.ruleId, series.associateId);
    if (!s) return false;
    const slot = Date.parse(a.fields.originalStart);
    await this.patch(idOf(ref, 'appointment')!, { Title: s.template.Title ?? '', Location: s.template.Location ?? '', StartDate: new Date(slot).toISOString(), EndDate: new Date(slot + s.duration).toISOString() });
    return true;
  }

  private async stamp(id: number, stamp: string): Promise<void> {
    const { application, device } = this.options;
    await this.options.http.request('POST', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/default/Key`, { Key: STAMP_KEY, Value: stamp, TableName: 'appointment', RecordId: id });
  }

  private async stampedId(stamp: string): Promise<number | undefined> {
    const { application, device } = this.options;
    const r = await this.options.http.request<{ RecordId?: number }>('GET', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/Key/${STAMP_KEY}/appointment?keyValue=${encodeURIComponent(stamp)}`, undefined, { expect: [404] });
    return r.status === 404 || !r.body?.RecordId ? undefined : r.body.RecordId;
  }

  async findStamped(stamp: string, expected?: { owner: CrmRef; kind: ActivityKind; fields: ItemFields }): Promise<CrmActivity | undefined> {
    const id = await this.stampedId(stamp);
    if (id !== undefined) return this.get(crmRef('appointment', id));
    if (!expected?.fields.start) return undefined;
    // created by the API user for this owner, the same title and start, and stamped by nobody
    const owner = idOf(expected.owner, 'associate');
    const rows = await this.archive<{ appointmentId: number; text: string; date: string }>(
      `/Appointment?$select=appointmentId,text,date&$filter=${encodeURIComponent(`associateId equals ${owner} and registeredBy equals ${this.apiAssociateId} and text is ${quote(expected.fields.subject ?? '')}`)}&$orderBy=appointmentId`);
    const start = Date.parse(expected.fields.start);
    for (const row of rows.filter((r) => parseSoDate(r.date) === start)) {
      const keys = await this.options.http.request<Record<string, string>>('GET', `/Appointment/${row.appointmentId}/ForeignKey`, undefined, { expect: [404] });
      if (keys.status === 404 || Object.keys(keys.body ?? {}).some((k) => k.startsWith(`${this.options.application}.${this.options.device}.`))) continue;
      await this.stamp(row.appointmentId, stamp);
      return this.get(crmRef('appointment', row.appointmentId));
    }
    return undefined;
  }

  /**
   * The Task list item for a type named by the sync (<sync><category crm>): by its Value, without
   * regard to case; '' the list's first item of the activity's kind (its default). The list is
   * read once, and again when a name is not on it (an administrator may have added it since).
   */
  private async taskOf(kind: ActivityKind, crmType: string | undefined): Promise<{ TaskListItemId: number } | undefined> {
    if (crmType === undefined) return undefined;
    const find = (list: readonly TaskListItem[]): TaskListItem | undefined => list.filter((t) => !t.Deleted).find((t) =>
      crmType === '' ? t.Type === (kind === 'task' ? 'ToDo' : 'Appointment') : t.Value.toLowerCase() === crmType.toLowerCase());
    const read = (): Promise<TaskListItem[]> => this.options.http.request<TaskListItem[]>('GET', '/List/Task/Items').then((r) => r.body, (err: unknown) => {
      this.taskList = undefined; // a failed read is not kept: the next write reads again
      throw err;
    });
    this.taskList ??= read();
    let found = find(await this.taskList);
    if (!found) {
      this.taskList = read();
      found = find(await this.taskList);
    }
    if (!found) throw new CrmError('UNKNOWN_TASK_TYPE', `SuperOffice's Task list has no item "${crmType}" (it has ${(await this.taskList).map((t) => t.Value).join(', ')}); see <sync><category crm>`);
    return { TaskListItemId: found.TaskListItemId };
  }

  async update(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome> {
    const series = parseSeriesRef(ref);
    if (series) return this.updateSeries(series, fields, ifVersion);
    const id = idOf(ref, 'appointment');
    if (id === undefined) return { status: 'missing' };
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.entity(id);
      if (!current) return { status: 'missing' };
      if (ifVersion !== undefined && current.UpdatedDate !== ifVersion) return { status: 'conflict', current: await this.get(ref) ?? await this.activityOf(current) };
      if (fields.recurrence && !current.Recurrence?.IsRecurrence) throw new CrmError('RECURRENCE_NOT_SUPPORTED', `${ref} is a single appointment in SuperOffice: it does not become a series in place`);
      // a row of a series takes the times and fields of its own occurrence (REST changes only this row)
      const values: Record<string, unknown> = entityOf(kindOf(current), fields, this.zones);
      const task = await this.taskOf(kindOf(current), fields.crmType);
      if (task && task.TaskListItemId !== current.Task?.TaskListItemId) values.Task = task;
      const participants = participantsChange(current, await this.participantsOf(await this.emailOf(current.Associate?.AssociateId ?? 0), kindOf(current), fields));
      if (participants) values.Participants = participants;
      const patch = [{ op: 'test', path: '/UpdatedDate', value: current.UpdatedDate }, ...Object.entries(values).map(([k, v]) => ({ op: 'replace', path: `/${k}`, value: v }))];
      const r = await this.options.http.request<AppointmentEntity>('PATCH', `/Appointment/${id}`, patch, { expect: [404, 409, 412], headers: { 'if-unmodified-since': httpDate(current.UpdatedDate ?? '') } });
      if (r.status === 404) return { status: 'missing' };
      if (r.status === 200) return { status: 'written', version: r.body.UpdatedDate ?? '' };
      // changed between our read and our write: read it again
      if (ifVersion !== undefined) {
        const now = await this.get(ref);
        return now ? { status: 'conflict', current: now } : { status: 'missing' };
      }
    }
    throw new CrmError('CHANGED_WHILE_WRITTEN', `${ref} kept changing while the sync wrote it`, { retriable: true });
  }

  /**
   * A series written as a whole. A new pattern, new times, or an occurrence to bring back: the
   * Appointment agent lays it out again from its first row (every row back on its occurrence —
   * Exchange discards its exceptions then too, and the handler writes the mailbox's after).
   * Otherwise the rows that are no exception take the new fields one by one, so an exception —
   * perhaps a user's edit on its way to the mailbox — is left as it is. Then the EXDATEs' rows go.
   */
  private async updateSeries(ref: { ruleId: number; associateId: number }, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome> {
    const s = await this.series(ref.ruleId, ref.associateId);
    if (!s) return { status: 'missing' };
    const current = await this.seriesActivity(s);
    if (ifVersion !== undefined && current.version !== ifVersion) return { status: 'conflict', current };
    const start = Date.parse(fields.start ?? current.fields.start ?? '');
    const open = fields.recurrence ? isOpenRrule(fields.recurrence.rrule) : s.open;
    let r = fields.recurrence ? ruleOfRrule(fields.recurrence.rrule, start, this.bound()) : s.rule;
    if (typeof r === 'string') throw new CrmError('RECURRENCE_NOT_SUPPORTED', r);
    // an open series keeps the end it has while enough of the window is left: extending it
    // lays the series out again, so it happens once in a while, not at every write
    if (open && s.open && r.endType === 'EndDate' && (s.rule.endDate ?? 0) >= this.bound(EXTEND_BELOW)) r = { ...r, endDate: s.rule.endDate };
    if (open !== s.open) await this.markOpen(ref.ruleId, open);
    const exdates = new Set((fields.recurrence?.exdates ?? []).map((d) => Date.parse(d)));
    const values: Record<string, unknown> = entityOf(kindOf(s.template), { ...current.fields, ...fields }, this.zones);
    const task = await this.taskOf(kindOf(s.template), fields.crmType);
    if (task) values.Task = task;
    const participants = participantsChange(s.template, await this.participantsOf(await this.emailOf(s.associateId), kindOf(s.template), fields));
    if (participants) values.Participants = participants;
    const samePattern = rruleOfRule(r, start) === rruleOfRule(s.rule, s.patternStart) && start === s.patternStart;
    const duration = (Date.parse(fields.end ?? fields.due ?? '') || start + s.duration) - start;
    const comesBack = s.exdates.some((d) => !exdates.has(d));
    if (!samePattern || duration !== s.duration || comesBack) {
      const entity = { ...(await this.entity(s.rows[0].appointmentId)), ...values, Recurrence: infoFromRule(r, start), _Links: undefined };
      delete entity._Links;
      await this.options.http.request('POST', '/Agents/Appointment/Save', { AppointmentEntity: entity, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false });
    } else {
      const { StartDate: _start, EndDate: _end, ...rest } = values;
      // the rows that are no exception share the template's fields: unchanged, nothing to write
      if (!sameFields(s.template, rest)) for (const row of s.rows) if (!this.isException(s, row)) await this.patch(row.appointmentId, rest);
    }
    await this.deleteOccurrences(ref.ruleId, ref.associateId, fields.recurrence?.exdates ?? []);
    const after = await this.series(ref.ruleId, ref.associateId);
    return after ? { status: 'written', version: (await this.seriesActivity(after)).version } : { status: 'missing' };
  }

  /** Where a never-ending series ends in SuperOffice now: the sync window ahead (a share of it). */
  private bound(share = 1): number {
    return Math.floor((Date.now() + share * (this.options.seriesBoundDays ?? 365) * DAY) / DAY) * DAY;
  }

  private async isOpen(ruleId: number): Promise<boolean> {
    const { application, device } = this.options;
    const r = await this.options.http.request<{ RecordId?: number }>('GET', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/Key/${OPEN_KEY}/recurrence_rule?keyValue=${ruleId}`, undefined, { expect: [404] });
    return r.status !== 404 && r.body?.RecordId === ruleId;
  }

  private async markOpen(ruleId: number, open: boolean): Promise<void> {
    const { application, device } = this.options;
    const base = `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/default/Key`;
    if (open) this.bounded.delete(ruleId);
    if (open) await this.options.http.request('POST', base, { Key: OPEN_KEY, Value: String(ruleId), TableName: 'recurrence_rule', RecordId: ruleId });
    else await this.options.http.request('DELETE', `${base}/${OPEN_KEY}/recurrence_rule/${ruleId}`, undefined, { expect: [404] });
  }

  /**
   * An open series whose bound comes near gets the window ahead again: the Appointment agent
   * lays its rule out to the new end, reusing the rows in time order. An exception row keeps
   * its identity (its mapping) only if that order puts it on its own occurrence — no deleted
   * occurrence before it, no moved row across another; then its own times and title are
   * written back and the deleted occurrences' rows deleted again. Any other series waits for
   * its next change from Exchange, which lays it out and writes its exceptions again.
   */
  private async extend(ruleId: number, associateId: number): Promise<'extended' | 'not-open' | 'has-exceptions'> {
    const s = (await this.isOpen(ruleId)) ? await this.series(ruleId, associateId) : undefined;
    if (!s?.open) {
      // ends where its user said: not asked again (this process marks the ones it opens)
      this.bounded.add(ruleId);
      if (this.bounded.size > 100_000) this.bounded.delete(this.bounded.values().next().value!);
      return 'not-open';
    }
    const rule = { ...s.rule, endDate: this.bound() };
    const slots = expand(rule, s.patternStart);
    const inOrder = [...s.rows].sort((a, b) => a.start - b.start || a.appointmentId - b.appointmentId);
    const exceptions = inOrder.filter((row) => this.isException(s, row));
    if (inOrder[0] !== s.rows[0] || exceptions.some((row) => slots[inOrder.indexOf(row)] !== s.slotOf.get(row))) return 'has-exceptions';
    const own = new Map<number, AppointmentEntity>();
    for (const row of exceptions) {
      const e = await this.entity(row.appointmentId);
      if (e) own.set(row.appointmentId, e);
    }
    const first = await this.entity(s.rows[0].appointmentId);
    if (!first) return 'not-open';
    const entity: Record<string, unknown> = { ...first, ...(own.has(first.AppointmentId) ? entityOf(kindOf(s.template), (await this.activityOf(s.template)).fields, this.zones) : {}), Recurrence: infoFromRule(rule, s.patternStart) };
    if (own.has(first.AppointmentId)) Object.assign(entity, { StartDate: new Date(s.patternStart).toISOString(), EndDate: new Date(s.patternStart + s.duration).toISOString() });
    delete entity._Links;
    await this.options.http.request('POST', '/Agents/Appointment/Save', { AppointmentEntity: entity, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false });
    for (const [id, e] of own) await this.patch(id, { Title: e.Title ?? '', Location: e.Location ?? '', StartDate: e.StartDate ?? undefined, EndDate: e.EndDate ?? undefined });
    await this.deleteOccurrences(ruleId, associateId, s.exdates.map(formatUtc));
    return 'extended';
  }

  async delete(ref: CrmRef): Promise<boolean> {
    const series = parseSeriesRef(ref);
    if (series) {
      const s = await this.series(series.ruleId, series.associateId);
      if (!s) return false;
      await this.options.http.request('POST', '/Agents/Appointment/Delete', { AppointmentId: s.rows[0].appointmentId, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false }, { expect: [404] });
      return true;
    }
    const id = idOf(ref, 'appointment');
    if (id === undefined) return false;
    const r = await this.options.http.request('DELETE', `/Appointment/${id}`, undefined, { expect: [404] });
    return r.status !== 404;
  }

  async exceptions(ref: CrmRef): Promise<Map<string, CrmActivity>> {
    const series = parseSeriesRef(ref);
    const s = series ? await this.series(series.ruleId, series.associateId) : undefined;
    const out = new Map<string, CrmActivity>();
    for (const row of s?.rows ?? []) {
      if (!this.isException(s!, row)) continue;
      const e = await this.entity(row.appointmentId);
      if (e) {
        const a = await this.occurrenceActivity(s!, e);
        if (a.fields.originalStart) out.set(a.fields.originalStart, a);
      }
    }
    return out;
  }

  async setMother(ref: CrmRef, motherRef: CrmRef): Promise<string | undefined> {
    const id = idOf(ref, 'appointment');
    const mother = idOf(motherRef, 'appointment');
    if (id === undefined || mother === undefined) return undefined;
    const r = await this.options.http.request<AppointmentEntity>('PATCH', `/Appointment/${id}`, [{ op: 'replace', path: '/MotherId', value: mother }], { expect: [404] });
    return r.status === 404 ? undefined : (r.body.UpdatedDate ?? undefined);
  }

  async personByEmail(emails: readonly string[]): Promise<CrmPersonLink | undefined> {
    for (const email of emails) {
      const person = await this.personOf(email);
      if (person) return { personRef: crmRef('person', person.personId), contactRef: person.contactId ? crmRef('contact', person.contactId) : null };
    }
    return undefined;
  }

  /** The first CRM person with this address who is no user (a colleague is not a contact). */
  private async personOf(email: string): Promise<{ personId: number; contactId: number } | undefined> {
    if (this.users.has(email.toLowerCase())) return undefined;
    const rows = await this.archive<{ personId: number; contactId: number }>(`/Person?$select=personId,contactId&$filter=${encodeURIComponent(`email is ${quote(email)}`)}&$orderBy=personId`);
    return rows.find((r) => !this.userPersons.has(r.personId));
  }

  /**
   * A meeting's CRM persons as a booking's participants — on the organizer's copy only (a
   * colleague's own copy comes from their mailbox, joined by MotherId), and only when Exchange
   * names attendees: an appointment without any leaves what a user set in the CRM alone.
   */
  private async participantsOf(ownerEmail: string | undefined, kind: ActivityKind, fields: ItemFields): Promise<Participant[] | undefined> {
    if (kind !== 'appointment' || !fields.attendees?.length || !ownerEmail || fields.organizer?.toLowerCase() !== ownerEmail.toLowerCase()) return undefined;
    const out: Participant[] = [];
    for (const a of fields.attendees) {
      if (a.role === 'resource') continue;
      const p = await this.personOf(a.email);
      if (p && !out.some((o) => o.PersonId === p.personId)) out.push({ PersonId: p.personId, ContactId: p.contactId });
    }
    return out;
  }

  /**
   * Versions are UpdatedDate; a series' is its newest row's and its number of rows ("…|5"):
   * deleting an occurrence changes no row's date, so of two series versions with the same
   * date, the one with fewer rows is the later.
   */
  // ── persons and selections (persons.ts) ──

  person(ref: CrmRef): Promise<CrmPerson | undefined> {
    return this.people.person(ref);
  }

  persons(refs: readonly CrmRef[]): Promise<CrmPerson[]> {
    return this.people.persons(refs);
  }

  createPerson(owner: CrmRef, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    return this.people.createPerson(owner, fields, stamp);
  }

  findStampedPerson(stamp: string): Promise<CrmPerson | undefined> {
    return this.people.findStampedPerson(stamp);
  }

  updatePerson(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome<CrmPerson>> {
    return this.people.updatePerson(ref, fields, ifVersion);
  }

  deletePerson(ref: CrmRef): Promise<boolean> {
    return this.people.deletePerson(ref);
  }

  selection(ref: CrmRef): Promise<CrmSelection | undefined> {
    return this.people.selection(ref);
  }

  /** Appointments and tasks from the archive (a series is one record, its version unknown here), persons the associate owns. */
  async recordsOf(owner: CrmRef): Promise<CrmRecordVersion[]> {
    const associate = idOf(owner, 'associate');
    if (associate === undefined) return [];
    const rows = await this.archive<{ appointmentId: number; recurrenceRuleId: number; updatedDate: string; updatedBy: number; type: string }>(
      `/Appointment?$select=appointmentId,recurrenceRuleId,updatedDate,updatedBy,type&$filter=${encodeURIComponent(`associateId equals ${associate}`)}`);
    const out = new Map<CrmRef, CrmRecordVersion>();
    for (const r of rows) {
      const kind = r.type === 'inChecklist' || r.type === 'BookingForChecklist' ? 'task' : 'appointment';
      if (r.recurrenceRuleId) out.set(seriesRef(r.recurrenceRuleId, associate), { ref: seriesRef(r.recurrenceRuleId, associate), kind, version: '', writtenBySync: false });
      else out.set(crmRef('appointment', r.appointmentId), { ref: crmRef('appointment', r.appointmentId), kind, version: r.updatedDate, writtenBySync: r.updatedBy === this.apiAssociateId });
    }
    for (const p of await this.people.ownedBy(associate)) out.set(p.ref, { ...p, kind: 'contact' });
    return [...out.values()];
  }

  selectionMembers(ref: CrmRef): Promise<CrmRef[]> {
    return this.people.selectionMembers(ref);
  }

  compareVersions(a: string, b: string): number {
    const [da, ca] = a.split('|');
    const [db, cb] = b.split('|');
    const byDate = (parseSoDate(da) ?? 0) - (parseSoDate(db) ?? 0);
    return byDate !== 0 || ca === undefined || cb === undefined ? byDate : Number(cb) - Number(ca);
  }

  /** Every row of an archive query, following odata.nextLink (at most `limit` rows). */
  private archive<R>(path: string, limit?: number): Promise<R[]> {
    return readArchive<R>(this.options.http, path, limit);
  }

  // ── the change feed ──

  async read(after: string | undefined, limit: number): Promise<CrmChangeBatch> {
    const at = decodePosition(after);
    if (this.lastBatch && after === this.lastBatch.position) for (const key of this.lastBatch.keys) this.acked.set(key, Date.now());
    // deletes (and series with a row less) a webhook or the check of mapped records told of, not yet in the log
    while (this.pending.length && this.pending[0].seq <= at.d) this.pending.shift();
    const changes: CrmChange[] = [];
    const next: FeedPosition = { ...at, n: at.n + 1 };
    for (const d of this.pending.slice(0, limit)) {
      next.d = d.seq;
      const position = encodePosition(next);
      const series = d.refresh ? parseSeriesRef(d.ref) : undefined;
      const s = series ? await this.series(series.ruleId, series.associateId) : undefined;
      const entity = parseCrmRef(d.ref)?.entity;
      if (s) changes.push({ ref: d.ref, kind: kindOf(s.template), op: 'u', time: d.time, bySync: false, owner: crmRef('associate', s.associateId), ownerEmail: d.mailbox, position, activity: await this.seriesActivity(s) });
      else changes.push({ ref: d.ref, kind: entity === 'person' ? 'contact' : entity === 'selection' ? 'selection-member' : 'appointment', op: 'd', time: d.time, bySync: false, owner: null, ownerEmail: entity === 'selection' ? null : d.mailbox, position });
    }
    const rows: ArchiveRow[] = [];
    let serverTime = Date.now();
    let path: string | undefined = `/Appointment?$select=appointmentId,updatedDate,registeredDate,updatedBy,associateId,recurrenceRuleId&$filter=${encodeURIComponent(`updatedDate afterTime '${new Date(at.t).toISOString()}'`)}&$orderBy=updatedDate,appointmentId&$top=${Math.max(1, limit - changes.length)}`;
    while (path && rows.length === 0) {
      const page: { body: ArchivePage<ArchiveRow>; serverTime: number | undefined } = await this.options.http.request<ArchivePage<ArchiveRow>>('GET', path);
      serverTime = page.serverTime ?? serverTime;
      // afterTime is "after or equal to": what the position already passed is left out
      rows.push(...page.body.value.filter((r: ArchiveRow) => { const t = parseSoDate(r.updatedDate) ?? 0; return t > at.t || (t === at.t && r.appointmentId > at.id); }));
      path = rows.length === 0 ? page.body['odata.nextLink'] : undefined;
    }
    const settled = serverTime - this.options.settleMs;
    const unsettledKeys: string[] = [];
    /** Rows of series changed in this batch: each series is one record, read once, after the rows. */
    const seriesRows = new Map<string, { ruleId: number; associateId: number; time: number; rows: ArchiveRow[] }>();
    // the rows users changed are read several at a time (in order of use, errors where used):
    // one request after another kept the feed behind at tens of changes per second
    const reads = new Limiter(FEED_READS);
    const entities = new Map<number, Promise<AppointmentEntity | undefined>>();
    for (const row of rows) {
      if (row.recurrenceRuleId || row.updatedBy === this.apiAssociateId || this.acked.has(rowKey(row))) continue;
      const read = reads.run(() => this.entity(row.appointmentId));
      read.catch(() => undefined); // awaited below, in order
      entities.set(row.appointmentId, read);
    }
    let moving = true;
    for (const row of rows) {
      const t = parseSoDate(row.updatedDate) ?? 0;
      const key = rowKey(row);
      moving &&= t <= settled;
      if (moving) {
        next.t = t;
        next.id = row.appointmentId;
      } else unsettledKeys.push(key);
      if (this.acked.has(key)) continue; // published while it was unsettled
      const ref = crmRef('appointment', row.appointmentId);
      const bySync = row.updatedBy === this.apiAssociateId;
      const op = row.registeredDate === row.updatedDate ? 'c' : 'u';
      const position = encodePosition(next);
      if (row.recurrenceRuleId) {
        const group = `${row.recurrenceRuleId}-${row.associateId}`;
        const g = seriesRows.get(group) ?? { ruleId: row.recurrenceRuleId, associateId: row.associateId, time: t, rows: [] };
        g.rows.push(row);
        g.time = Math.max(g.time, t);
        seriesRows.set(group, g);
        continue;
      }
      if (bySync) {
        changes.push({ ref, kind: 'appointment', op, time: t, bySync, owner: crmRef('associate', row.associateId), ownerEmail: (await this.emailOf(row.associateId)) ?? null, position });
        continue;
      }
      const entity = await (entities.get(row.appointmentId) ?? this.entity(row.appointmentId));
      if (!entity) continue; // deleted since: its delete comes from the webhook or the check of mapped records
      const activity = await this.activityOf(entity);
      if (activity.ownerEmail) this.remember(ref, activity.ownerEmail);
      changes.push({ ref, kind: activity.kind, op, time: t, bySync, owner: activity.owner, ownerEmail: activity.ownerEmail ?? null, position, activity });
    }
    for (const g of seriesRows.values()) changes.push(...(await this.seriesChanges(g, encodePosition(next))));
    // persons and selections: settled rows only (they are few; a younger one comes at the next read)
    for (const c of await this.people.changes(at, next, settled, Math.max(1, limit - changes.length))) changes.push({ ...c, position: encodePosition(next) });
    for (const [key, when] of this.acked) if (Date.now() - when > 10 * this.options.settleMs + 60_000) this.acked.delete(key);
    const position = encodePosition(next);
    this.lastBatch = { position, keys: unsettledKeys };
    const advanced = next.t !== at.t || next.id !== at.id || next.d !== at.d || next.pt !== at.pt || next.pid !== at.pid || next.st !== at.st;
    return { changes, position: changes.length || advanced ? position : after, more: advanced && rows.length + changes.length >= limit };
  }

  /**
   * The changes a batch's rows of one series make: the series record (its fields, rule,
   * EXDATEs), then each row a user changed that is an exception. The sync's own writes are
   * its own; a series no row is left of is deleted through its rows' webhooks.
   */
  private async seriesChanges(g: { ruleId: number; associateId: number; time: number; rows: ArchiveRow[] }, position: string): Promise<CrmChange[]> {
    const email = (await this.emailOf(g.associateId)) ?? null;
    const owner = crmRef('associate', g.associateId);
    const ref = seriesRef(g.ruleId, g.associateId);
    const byUser = g.rows.filter((r) => r.updatedBy !== this.apiAssociateId);
    let s: Series | undefined;
    try {
      s = await this.series(g.ruleId, g.associateId);
    } catch (err) {
      // a pattern the sync cannot read: parked with why, the changes after it flow
      return [{ ref, kind: 'appointment', op: 'u', time: g.time, bySync: false, owner, ownerEmail: email, position, refused: err as Error }];
    }
    if (!s) return [];
    if (email) {
      this.remember(ref, email);
      for (const row of s.rows) this.remember(crmRef('appointment', row.appointmentId), email, ref);
    }
    const created = g.rows.every((r) => r.registeredDate === r.updatedDate);
    const out: CrmChange[] = [{ ref, kind: kindOf(s.template), op: created ? 'c' : 'u', time: g.time, bySync: byUser.length === 0, owner, ownerEmail: email, position, activity: await this.seriesActivity(s) }];
    for (const row of byUser) {
      const own = s.rows.find((r) => r.appointmentId === row.appointmentId);
      if (!own || !this.isException(s, own)) continue;
      const e = await this.entity(row.appointmentId);
      if (e) out.push({ ref: crmRef('appointment', row.appointmentId), kind: kindOf(e), op: 'u', time: g.time, bySync: false, owner, ownerEmail: email, position, activity: await this.occurrenceActivity(s, e) });
    }
    return out;
  }

  async onChange(wake: () => void): Promise<() => Promise<void>> {
    const stops: Array<() => Promise<void>> = [];
    const { webhook, mapped } = this.options;
    if (webhook) {
      const receiver = await startWebhookReceiver({
        ...webhook.listen, secret: webhook.secret,
        onRefused: (reason) => {
          this.options.onWebhook?.('refused');
          this.options.logger.warn({ event: 'superoffice.webhook-refused', reason }, `a webhook request was refused: ${reason}`);
        },
        onEvent: (e) => {
          this.options.onWebhook?.('accepted');
          void this.onWebhookEvent(e, wake).catch((err: unknown) => this.options.logger.warn({ err, event: 'superoffice.webhook-failed' }, 'a webhook event could not be handled; the archive poll and the check of mapped records catch up'));
        },
      });
      stops.push(() => receiver.close());
      const target = webhook.url ?? `${receiver.url}/`;
      await this.registerWebhook(target, webhook.secret);
      this.options.logger.info({ event: 'superoffice.webhook', listen: receiver.url, target }, `SuperOffice webhooks to ${target} (listening on ${receiver.url})`);
    }
    if (mapped) {
      let running: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        running = this.reconcile(mapped).then((n) => (n ? wake() : undefined)).catch((err: unknown) => this.options.logger.warn({ err, event: 'superoffice.reconcile-failed' }, 'checking the mapped records against SuperOffice failed; next round'));
      }, this.options.reconcileIntervalMs);
      timer.unref();
      stops.push(async () => {
        clearInterval(timer);
        await running;
      });
    }
    return async () => {
      for (const stop of stops) await stop();
    };
  }

  private async onWebhookEvent(e: WebhookEvent, wake: () => void): Promise<void> {
    if (e.ChangedByAssociateId === this.apiAssociateId) return; // the sync's own write
    if (e.Event === 'activity.deleted') {
      const ref = crmRef('appointment', e.PrimaryKey);
      const known = this.owners.get(ref);
      // a record not handed out yet: a read under way may hand it out still, so the delete waits for it
      if (!known) this.deletedEarly.set(ref, Date.now());
      const mailbox = known?.email ?? (await this.options.mapped?.mailboxOf(ref));
      // a row of a series: the series has an occurrence less (and an exception record, if the row was one, goes)
      if (known?.series) this.queue(known.series, known.email, true);
      if (mailbox && (!known?.series || (await this.options.mapped?.mailboxOf(ref)))) this.queue(ref, mailbox);
    }
    if (e.Event === 'person.deleted') {
      // a person with a contact in a mailbox: its delete goes there (its selections change by themselves)
      const ref = crmRef('person', e.PrimaryKey);
      const mailbox = await this.options.mapped?.mailboxOf(ref);
      if (mailbox) this.queue(ref, mailbox);
    }
    wake();
  }

  private remember(ref: CrmRef, ownerEmail: string, series?: CrmRef): void {
    this.owners.delete(ref);
    this.owners.set(ref, { email: ownerEmail, series });
    // the newest 100,000 are enough: older records are mapped by now
    if (this.owners.size > 100_000) this.owners.delete(this.owners.keys().next().value!);
    if (this.deletedEarly.delete(ref)) this.queue(series ?? ref, ownerEmail, !!series);
    for (const [early, at] of this.deletedEarly) if (Date.now() - at > 5 * 60_000) this.deletedEarly.delete(early);
  }

  private queue(ref: CrmRef, mailbox: string, refresh = false): void {
    if (this.pending.some((d) => d.ref === ref && !!d.refresh === refresh)) return;
    // numbered from the clock, so a number handed out before a restart is never reused
    this.deleteSeq = Math.max(this.deleteSeq + 1, Date.now() * 1_000);
    this.pending.push({ seq: this.deleteSeq, ref, mailbox, time: Date.now(), refresh });
  }

  /** Mapped records the CRM no longer has: their deletes, when no webhook told of them. Returns how many. */
  async reconcile(mapped: MappedRecords): Promise<number> {
    let found = 0;
    const extended: Record<'extended' | 'not-open' | 'has-exceptions', number> = { extended: 0, 'not-open': 0, 'has-exceptions': 0 };
    const extendBelow = this.bound(EXTEND_BELOW);
    let after: CrmRef | undefined;
    for (;;) {
      const page = await mapped.page('appointment', after, 500);
      if (!page.length) break;
      after = page[page.length - 1].ref;
      for (const p of page) {
        const series = parseSeriesRef(p.ref);
        if (!series) continue;
        const rows = await this.archive<{ appointmentId: number; date: string }>(`/Appointment?$select=appointmentId,date&$filter=${encodeURIComponent(`recurrenceRuleId equals ${series.ruleId} and associateId equals ${series.associateId}`)}&$orderBy=${encodeURIComponent('date desc')}&$top=1`, 1);
        if (!rows.length) {
          this.queue(p.ref, p.mailbox);
          found++;
        } else if ((parseSoDate(rows[0].date) ?? 0) < extendBelow && !this.bounded.has(series.ruleId)) {
          // its last occurrence comes near the end of the window: an open series goes on
          extended[await this.extend(series.ruleId, series.associateId)]++;
        }
      }
      const ids = page.map((p) => idOf(p.ref, 'appointment')).filter((id): id is number => id !== undefined);
      if (!ids.length) continue;
      const present = new Set((await this.archive<{ appointmentId: number }>(`/Appointment?$select=appointmentId&$filter=${encodeURIComponent(`appointmentId between ${Math.min(...ids)},${Math.max(...ids)}`)}`)).map((r) => r.appointmentId));
      for (const p of page) {
        const id = idOf(p.ref, 'appointment');
        if (id !== undefined && !present.has(id)) {
          this.queue(p.ref, p.mailbox);
          found++;
        }
      }
    }
    found += await this.reconcilePeople(mapped);
    if (found) this.options.logger.info({ event: 'superoffice.reconciled', deletes: found }, `${found} mapped records are gone from SuperOffice: their deletes are sent`);
    if (extended.extended) this.options.logger.info({ event: 'superoffice.series-extended', series: extended.extended }, `${extended.extended} never-ending series were written on to ${formatUtc(this.bound()).slice(0, 10)}`);
    if (extended['has-exceptions']) this.options.logger.warn({ event: 'superoffice.series-not-extended', series: extended['has-exceptions'] }, `${extended['has-exceptions']} never-ending series come near their end in SuperOffice but have exceptions: each is written on at its next change in Exchange`);
    return found;
  }

  /** Mapped persons and selections SuperOffice no longer has: their deletes. Returns how many. */
  private async reconcilePeople(mapped: MappedRecords): Promise<number> {
    let found = 0;
    let after: CrmRef | undefined;
    for (;;) {
      const page = await mapped.page('person', after, 500);
      if (!page.length) break;
      after = page[page.length - 1].ref;
      const persons = page.filter((p) => idOf(p.ref, 'person') !== undefined);
      const present = await this.people.presentPersons(persons.map((p) => idOf(p.ref, 'person')!));
      for (const p of persons) {
        if (present.has(idOf(p.ref, 'person')!)) continue;
        this.queue(p.ref, p.mailbox);
        found++;
      }
    }
    const selections = (await mapped.selectionRefs?.()) ?? [];
    if (selections.length) {
      const present = await this.people.selectionIds();
      for (const ref of selections) {
        if (present.has(idOf(ref, 'selection') ?? -1)) continue;
        this.queue(ref, ref);
        found++;
      }
    }
    return found;
  }

  /** One webhook of this sync per tenant, found by name; created when missing. */
  private async registerWebhook(url: string, secret: string): Promise<void> {
    const name = `exchange-crm-sync ${this.options.device}`;
    const existing = (await this.options.http.request<Array<{ WebhookId: number; TargetUrl: string; State: string }>>('GET', `/Webhook?nameFilter=${encodeURIComponent(name)}`)).body ?? [];
    const current = existing.find((h) => h.TargetUrl === url && h.State === 'Active');
    for (const h of existing) if (h !== current) await this.options.http.request('DELETE', `/Webhook/${h.WebhookId}`, undefined, { expect: [404] });
    // the secret is write-only: a webhook found by name is replaced, so the secret is ours
    if (current) await this.options.http.request('DELETE', `/Webhook/${current.WebhookId}`, undefined, { expect: [404] });
    await this.options.http.request('POST', '/Webhook', { Name: name, Events: WEBHOOK_EVENTS, TargetUrl: url, Secret: secret, State: 'Active', Type: 'webhook' });
  }
}
