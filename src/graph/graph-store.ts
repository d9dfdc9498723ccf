import { randomUUID } from 'node:crypto';
import type { FetchedItem, FolderChange, FolderChangePage, FolderChangeReader, FolderKind, KeptProperties, ListedItem, MailboxStore, UpdateOutcome } from '../exchange/index.js';
import { MeetingWriteRefused } from '../shared/errors.js';
import type { ItemFields } from '../shared/item-fields.js';
import { toRrule } from '../shared/rrule.js';
import { patternOfGraph } from '../shared/graph-recurrence.js';
import { GraphApiError } from './graph-error.js';
import { GraphContacts } from './graph-contacts.js';
import { GraphTodo } from './graph-todo.js';
import { CLOCK_MARGIN_MS, parseDeltaPosition, positionAfter } from './delta-position.js';
import { batchError, type GraphHttp } from './graph-http.js';
import { readBatch } from './read-batch.js';
import { translateEwsIds } from './exchange-id-translation.js';
import { ianaFromWindows } from '../shared/time-zones.js';
import { dateIn, eventBodyOf, fieldsOfEvent, graphRecurrenceOfFields, STAMP_PROPERTY_ID, utcOf, type GraphEvent } from './event-fields.js';

export interface GraphStoreOptions {
  readonly http: GraphHttp;
  /** The calendar view a delta round covers, around now (days). */
  readonly windowPastDays: number;
  readonly windowFutureDays: number;
  readonly now?: () => number;
}


/** The stamp, and a series' modified occurrences (a single event has none). */
const EXPAND_ITEM = `$expand=singleValueExtendedProperties($filter=id eq '${STAMP_PROPERTY_ID}'),exceptionOccurrences`;
const MINUTE = 60_000;
const q = (s: string): string => s.replace(/'/g, "''");

/**
 * The mailbox store over Microsoft Graph v1.0 (app-only): appointments as events in each
 * mailbox's primary calendar, stamped with the same extended property as over EWS, and the
 * calendar view's delta query as the change reader (positions of kind 'graph-delta'). A series
 * is its master event (the pattern, `cancelledOccurrences`, `exceptionOccurrences`); the
 * calendar view lists its instances, which the reader folds into a change of the master.
 * Contacts and contact folders: graph-contacts.ts; tasks, Microsoft To Do's default list:
 * graph-todo.ts.
 */
export class GraphMailboxStore implements MailboxStore, FolderChangeReader {
  readonly positionKind = 'graph-delta' as const;
  readonly operation = 'delta';
  private readonly http: GraphHttp;
  private readonly now: () => number;
  private readonly contacts: GraphContacts;
  private readonly todo: GraphTodo;

  constructor(private readonly options: GraphStoreOptions) {
    this.http = options.http;
    this.now = options.now ?? Date.now;
    this.contacts = new GraphContacts(this.http, this.now);
    this.todo = new GraphTodo(this.http, this.now);
  }

  get url(): string {
    return this.http.baseUrl;
  }

  async createItem(mailbox: string, folder: FolderKind, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }> {
    if (folder === 'contacts') return this.contacts.create(mailbox, fields, crmId);
    if (folder === 'tasks') return this.todo.create(mailbox, fields, crmId);
    // transactionId: a POST repeated after a lost answer makes no second event
    const body = { ...eventBodyOf(fields), singleValueExtendedProperties: [{ id: STAMP_PROPERTY_ID, value: crmId }], transactionId: randomUUID() };
    const made = (await this.http.call('POST', `${this.events(mailbox)}`, { body, context: { mailbox, crmId } })).body as GraphEvent;
    const changeKey = await this.deleteOccurrences(mailbox, made.id, fields, made.cancelledOccurrences ?? []);
    return { itemId: made.id, changeKey: changeKey ?? made.changeKey ?? '' };
  }

  async findStamped(mailbox: string, folder: FolderKind, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined> {
    if (folder === 'contacts') return this.contacts.findStamped(mailbox, crmId);
    if (folder === 'tasks') return this.todo.findStamped(mailbox, crmId);
    const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${q(STAMP_PROPERTY_ID)}' and ep/value eq '${q(crmId)}')`;
    const r = await this.http.call('GET', `${this.events(mailbox)}?$filter=${encodeURIComponent(filter)}&$select=id,changeKey&$top=2`, { context: { mailbox, crmId } });
    const found = ((r.body as { value?: GraphEvent[] }).value ?? [])[0];
    return found ? { itemId: found.id, changeKey: found.changeKey ?? '' } : undefined;
  }

  async updateItem(mailbox: string, folder: FolderKind, itemId: string, fields: ItemFields, ifChangeKey?: string, keep?: KeptProperties): Promise<UpdateOutcome> {
    if (folder === 'contacts') return this.contacts.update(mailbox, itemId, fields, ifChangeKey);
    if (folder === 'tasks') return this.todo.update(mailbox, itemId, fields, ifChangeKey, keep);
    const headers: Record<string, string> = ifChangeKey !== undefined ? { 'if-match': `W/"${ifChangeKey}"` } : {};
    // read first: a meeting the user organised is not written (Graph would mail its attendees),
    // and a series' pattern is written only when it changed: writing it lays the series out
    // again, and Exchange drops the exceptions and deleted occurrences no longer on it
    const r0 = await this.http.call('GET', `${this.event(mailbox, itemId)}?$select=id,changeKey,start,type,recurrence,cancelledOccurrences,originalStartTimeZone,isOrganizer,attendees,categories`, { accept: [404], context: { mailbox, itemId } });
    if (r0.status === 404) return { status: 'missing' };
    const current = r0.body as GraphEvent;
    refuseMeeting(mailbox, itemId, current);
    const wanted = graphRecurrenceOfFields(fields);
    const samePattern = !!current && !!wanted && sameRecurrence(current, wanted);
    const r = await this.http.call('PATCH', this.event(mailbox, itemId), { body: eventBodyOf(fields, { recurrence: !samePattern, keep, categories: current.categories ?? [] }), headers, accept: [404, 412], context: { mailbox, itemId } });
    if (r.status === 404) return { status: 'missing' };
    if (r.status === 412) {
      // the user changed it since we read it: nothing written; say what it is now
      const now = await this.http.call('GET', `${this.event(mailbox, itemId)}?$select=id,changeKey,lastModifiedDateTime`, { accept: [404] });
      if (now.status === 404) return { status: 'missing' };
      const e = now.body as GraphEvent;
      return { status: 'conflict', changeKey: e.changeKey, ...(e.lastModifiedDateTime ? { modified: e.lastModifiedDateTime } : {}) };
    }
    const written = r.body as GraphEvent;
    const changeKey = await this.deleteOccurrences(mailbox, itemId, fields, written.cancelledOccurrences ?? []);
    return { status: 'updated', changeKey: changeKey ?? written.changeKey ?? '' };
  }

  /**
   * One occurrence of a series by its original start: a modified one is found among the
   * series' exceptionOccurrences, another by the series' instances at that time.
   */
  async updateOccurrence(mailbox: string, masterItemId: string, originalStart: string, fields: ItemFields | null, keep?: KeptProperties): Promise<{ before: string; after: string } | undefined> {
    const found = await this.findOccurrence(mailbox, masterItemId, originalStart);
    if (!found) return undefined;
    const r = fields === null
      ? await this.http.call('DELETE', this.event(mailbox, found.id), { accept: [404], context: { mailbox, itemId: masterItemId, originalStart } })
      : await this.http.call('PATCH', this.event(mailbox, found.id), {
        body: {
          ...(keep?.has('subject') ? {} : { subject: fields.subject ?? '' }),
          ...(keep?.has('location') ? {} : { location: { displayName: fields.location ?? '' } }),
          ...(fields.start && !keep?.has('start') ? { start: { dateTime: fields.start.replace(/Z$/, ''), timeZone: 'UTC' } } : {}),
          ...(fields.end && !keep?.has('start') ? { end: { dateTime: fields.end.replace(/Z$/, ''), timeZone: 'UTC' } } : {}),
        },
        accept: [404], context: { mailbox, itemId: masterItemId, originalStart },
      });
    if (r.status === 404) return undefined;
    const after = await this.http.call('GET', `${this.event(mailbox, masterItemId)}?$select=id,changeKey`, { accept: [404] });
    if (after.status === 404) return undefined;
    return { before: found.masterChangeKey, after: (after.body as GraphEvent).changeKey ?? '' };
  }

  private async findOccurrence(mailbox: string, masterItemId: string, originalStart: string): Promise<{ id: string; masterChangeKey: string } | undefined> {
    const at = Date.parse(originalStart);
    const master = await this.http.call('GET', `${this.event(mailbox, masterItemId)}?$select=id,changeKey,type,isOrganizer,attendees&$expand=exceptionOccurrences`, { accept: [404], context: { mailbox, itemId: masterItemId } });
    if (master.status === 404) return undefined;
    const m = master.body as GraphEvent;
    refuseMeeting(mailbox, masterItemId, m);
    const masterChangeKey = m.changeKey ?? '';
    const modified = (m.exceptionOccurrences ?? []).find((x) => x.originalStart && Date.parse(x.originalStart) === at);
    if (modified) return { id: modified.id, masterChangeKey };
    const window = `startDateTime=${new Date(at).toISOString()}&endDateTime=${new Date(at + MINUTE).toISOString()}`;
    const r = await this.http.call('GET', `${this.event(mailbox, masterItemId)}/instances?${window}&$select=id,type,originalStart,start,end`, { accept: [404], context: { mailbox, itemId: masterItemId } });
    if (r.status === 404) return undefined;
    const instance = ((r.body as { value?: GraphEvent[] }).value ?? []).find((x) => x.type === 'occurrence' && x.originalStart && Date.parse(x.originalStart) === at);
    return instance ? { id: instance.id, masterChangeKey } : undefined;
  }

  /**
   * A series' EXDATEs not deleted yet (`cancelled` names those that are, by their date in the
   * series' zone): each occurrence is found and deleted. Returns the series' new ChangeKey, if
   * one was deleted.
   */
  private async deleteOccurrences(mailbox: string, masterItemId: string, fields: ItemFields, cancelled: readonly string[]): Promise<string | undefined> {
    const gone = new Set(cancelled.map((c) => /(\d{4}-\d\d-\d\d)$/.exec(c)?.[1]));
    const zone = fields.timeZone ?? (fields.timeZoneWindows ? ianaFromWindows(fields.timeZoneWindows) : undefined) ?? 'UTC';
    let any = false;
    for (const exdate of fields.recurrence?.exdates ?? []) {
      if (gone.has(dateIn(exdate, zone))) continue;
      const found = await this.findOccurrence(mailbox, masterItemId, exdate);
      if (!found) continue; // not an occurrence of the series
      const r = await this.http.call('DELETE', this.event(mailbox, found.id), { accept: [404], context: { mailbox, itemId: masterItemId, exdate } });
      any ||= r.status !== 404;
    }
    if (!any) return undefined;
    const after = await this.http.call('GET', `${this.event(mailbox, masterItemId)}?$select=id,changeKey`);
    return (after.body as GraphEvent).changeKey;
  }

  /** Graph's URL names the kind of item and the id does not: an event, else a contact, else a task. */
  async deleteItem(mailbox: string, itemId: string): Promise<boolean> {
    const read = await this.http.call('GET', `${this.event(mailbox, itemId)}?$select=id,isOrganizer,attendees`, { accept: [404], context: { mailbox, itemId } });
    if (read.status !== 404) refuseMeeting(mailbox, itemId, read.body as GraphEvent);
    const r = await this.http.call('DELETE', this.event(mailbox, itemId), { accept: [404], context: { mailbox, itemId } });
    return r.status !== 404 || (await this.contacts.delete(mailbox, itemId)) || this.todo.delete(mailbox, itemId);
  }

  ensureContactFolder(mailbox: string, displayName: string): Promise<string> {
    return this.contacts.ensureFolder(mailbox, displayName);
  }

  renameFolder(mailbox: string, folderId: string, displayName: string): Promise<boolean> {
    return this.contacts.renameFolder(mailbox, folderId, displayName);
  }

  deleteFolder(mailbox: string, folderId: string): Promise<boolean> {
    return this.contacts.deleteFolder(mailbox, folderId);
  }

  createContacts(mailbox: string, folderId: string, entries: ReadonlyArray<{ fields: ItemFields; crmId: string }>): Promise<Array<{ itemId: string; changeKey: string } | { error: Error }>> {
    return this.contacts.createMany(mailbox, folderId, entries);
  }

  stampedIn(mailbox: string, folderId: string): Promise<Map<string, { itemId: string; changeKey: string }>> {
    return this.contacts.stampedIn(mailbox, folderId);
  }

  /** The copies the sync owns in contact folders (selections). */
  deleteItems(mailbox: string, itemIds: readonly string[]): Promise<void> {
    return this.contacts.deleteMany(mailbox, itemIds);
  }

  /** Events by id in $batch requests of 20, with the stamp; a 404 is an item deleted since. */
  async getItems(mailbox: string, folder: FolderKind, itemIds: readonly string[]): Promise<FetchedItem[]> {
    if (folder === 'contacts') return this.contacts.get(mailbox, itemIds);
    if (folder === 'tasks') return this.todo.get(mailbox, itemIds);
    return readBatch<GraphEvent>(this.http, itemIds, (id) => ({ method: 'GET', url: `${this.event(mailbox, id)}?${EXPAND_ITEM}`, headers: { prefer: 'outlook.body-content-type="text"' } }), fieldsOfEvent);
  }

  /** EWS ItemIds of the mailbox as this store's ids (a deployment moving from EWS to Graph). */
  translateEwsIds(mailbox: string, ewsIds: readonly string[]): Promise<Map<string, string>> {
    return translateEwsIds(this.http, mailbox, ewsIds);
  }

  async listFolder(mailbox: string, folder: FolderKind): Promise<ListedItem[]> {
    if (folder === 'contacts') return this.contacts.list(mailbox);
    if (folder === 'tasks') return this.todo.list(mailbox);
    const items: ListedItem[] = [];
    let next: string | undefined = `${this.events(mailbox)}?$select=id,changeKey,start,end,type,categories,sensitivity&$top=1000`;
    while (next) {
      const r = await this.http.call('GET', next, { context: { mailbox } });
      const page = r.body as { value?: GraphEvent[]; '@odata.nextLink'?: string };
      for (const e of page.value ?? []) {
        items.push({ itemId: e.id, changeKey: e.changeKey, start: utcOf(e.start), end: utcOf(e.end), recurring: e.type === 'seriesMaster', categories: e.categories, private: e.sensitivity === 'private' });
      }
      next = page['@odata.nextLink'];
    }
    return items;
  }

  /**
   * One page of the calendar view's delta: from the saved link, or a new round over the sync
   * window. `@removed` means deleted — or changed outside the window (event-delta.md): those
   * still there are read again and reported as updates, never as deletes.
   */
  async readChanges(mailbox: string, folder: FolderKind, position: string | null, maxChanges: number): Promise<FolderChangePage> {
    if (folder === 'contacts') return this.contacts.readChanges(mailbox, position, maxChanges);
    if (folder === 'tasks') return this.todo.readChanges(mailbox, position, maxChanges);
    const saved = position ? parseDeltaPosition(position, 'calendar') : undefined;
    const since = saved?.since ?? this.now();
    let link = saved?.link;
    if (!link) {
      const now = this.now();
      const from = new Date(now - this.options.windowPastDays * 86_400_000).toISOString();
      const to = new Date(now + this.options.windowFutureDays * 86_400_000).toISOString();
      link = `/users/${encodeURIComponent(mailbox)}/calendarView/delta?startDateTime=${from}&endDateTime=${to}`;
    }
    const started = this.now();
    const r = await this.http.call('GET', link, { headers: { prefer: `odata.maxpagesize=${Math.min(maxChanges, 1000)}, outlook.body-content-type="text"` }, context: { mailbox, folder } });
    const page = r.body as { value?: GraphEvent[]; '@odata.nextLink'?: string; '@odata.deltaLink'?: string };
    const changes: FolderChange[] = [];
    const removed: string[] = [];
    const series = new Set<string>();
    for (const e of page.value ?? []) {
      if (e['@removed']) {
        removed.push(e.id);
        continue;
      }
      const created = e.createdDateTime ? Date.parse(e.createdDateTime) : 0;
      const type = !position || created >= since - CLOCK_MARGIN_MS ? 'Create' : 'Update';
      if (e.seriesMasterId) {
        // an occurrence or exception: its series changed (once per page)
        if (!series.has(e.seriesMasterId)) changes.push({ type, itemId: e.seriesMasterId, changeKey: e.changeKey, recurring: true });
        series.add(e.seriesMasterId);
        continue;
      }
      changes.push({ type, itemId: e.id, changeKey: e.changeKey, start: utcOf(e.start), end: utcOf(e.end), recurring: e.type === 'seriesMaster' });
    }
    if (removed.length) {
      const still = await this.http.batch(removed.map((id) => ({ method: 'GET', url: `${this.event(mailbox, id)}?$select=id,changeKey,start,end,type,seriesMasterId` })));
      removed.forEach((id, i) => {
        const a = still[i];
        if (a.status === 200) {
          const e = a.body as GraphEvent;
          if (e.seriesMasterId) {
            if (!series.has(e.seriesMasterId)) changes.push({ type: 'Update', itemId: e.seriesMasterId, changeKey: e.changeKey, recurring: true });
            series.add(e.seriesMasterId);
          } else changes.push({ type: 'Update', itemId: id, changeKey: e.changeKey, start: utcOf(e.start), end: utcOf(e.end) });
        } else if (a.status === 404) changes.push({ type: 'Delete', itemId: id });
        else throw batchError({ method: 'GET', url: this.event(mailbox, id) }, a) ?? new GraphApiError(a.status, `HTTP_${a.status}`, `GET ${id}: HTTP ${a.status}`);
      });
    }
    // the next round's "since" is when this one's last page was asked for
    return { ...positionAfter(page, since, started, `delta of ${mailbox}`), changes };
  }

  async close(): Promise<void> {
    this.http.close();
  }

  private events(mailbox: string): string {
    return `/users/${encodeURIComponent(mailbox)}/events`;
  }

  private event(mailbox: string, itemId: string): string {
    return `/users/${encodeURIComponent(mailbox)}/events/${encodeURIComponent(itemId)}`;
  }
}

/** Is the event's pattern (and its first day) the one wanted? */
function sameRecurrence(current: GraphEvent, wanted: NonNullable<ReturnType<typeof graphRecurrenceOfFields>>): boolean {
  const now = patternOfGraph(current.recurrence);
  const want = patternOfGraph(wanted);
  return typeof now !== 'string' && typeof want !== 'string' && toRrule(now) === toRrule(want) && now.startDate === want.startDate
    && (current.recurrence?.range.recurrenceTimeZone ?? '') === wanted.range.recurrenceTimeZone;
}

/** The organiser's copy of a meeting with attendees: Graph would mail them for any write. */
function refuseMeeting(mailbox: string, itemId: string, e: GraphEvent): void {
  const attendees = e.attendees?.length ?? 0;
  if (attendees > 0 && e.isOrganizer !== false) throw new MeetingWriteRefused(mailbox, itemId, attendees);
}
