import type { FetchedItem, FolderChange, FolderChangePage, KeptProperties, ListedItem, UpdateOutcome } from '../exchange/index.js';
import type { ItemFields } from '../shared/item-fields.js';
import { formatUtc } from '../shared/time-zones.js';
import { withTypeCategory } from '../shared/type-category.js';
import { utcOf } from './event-fields.js';
import { CLOCK_MARGIN_MS, parseDeltaPosition, positionAfter } from './delta-position.js';
import { GraphApiError } from './graph-error.js';
import type { GraphHttp } from './graph-http.js';
import { readBatch } from './read-batch.js';

/** The app a task's linked resource names: the sync's stamp on a To Do task. */
export const LINKED_APPLICATION = 'exchange-crm-sync';

/** A To Do task as far as the sync reads it (v1.0 `todoTask`). */
export interface GraphTask {
  readonly id: string;
  readonly '@odata.etag'?: string;
  readonly '@removed'?: { readonly reason: string };
  readonly title?: string | null;
  readonly body?: { readonly content?: string } | null;
  readonly status?: string;
  readonly dueDateTime?: { readonly dateTime: string; readonly timeZone?: string } | null;
  readonly startDateTime?: { readonly dateTime: string; readonly timeZone?: string } | null;
  readonly categories?: readonly string[];
  readonly createdDateTime?: string;
  readonly lastModifiedDateTime?: string;
  readonly linkedResources?: ReadonlyArray<{ readonly applicationName?: string; readonly externalId?: string }>;
}

const STATUS: Record<string, string> = { notStarted: 'NotStarted', inProgress: 'InProgress', completed: 'Completed', waitingOnOthers: 'WaitingOnOthers', deferred: 'Deferred' };

/** To Do has no ChangeKey: its version is the etag's value. */
const versionOf = (t: GraphTask): string => /^(?:W\/)?"?([^"]*)"?$/.exec(t['@odata.etag'] ?? '')?.[1] ?? '';

/** A To Do task as the envelope's normalised fields. */
export function fieldsOfTask(t: GraphTask): ItemFields {
  const status = STATUS[t.status ?? 'notStarted'] ?? 'NotStarted';
  const fields: ItemFields = { itemId: t.id, folder: 'tasks', version: versionOf(t), subject: t.title ?? '', status, done: status === 'Completed', percentComplete: status === 'Completed' ? 100 : 0, private: false };
  if (t.body?.content) fields.body = t.body.content;
  const due = utcOf(t.dueDateTime);
  if (due) fields.due = due;
  const start = utcOf(t.startDateTime);
  if (start) fields.start = start;
  if (t.lastModifiedDateTime) fields.modified = formatUtc(Date.parse(t.lastModifiedDateTime));
  if (t.categories?.length) fields.categories = [...t.categories];
  const stamp = t.linkedResources?.find((l) => l.applicationName === LINKED_APPLICATION)?.externalId;
  if (stamp) fields.crmId = stamp;
  return fields;
}

/** The synced fields as a task body, as the EWS side writes a task: the title, notes, due date and whether it is done. */
function taskBodyOf(f: ItemFields): Record<string, unknown> {
  const due = f.due ?? f.end ?? f.start;
  return {
    title: f.subject ?? '',
    ...(f.body !== undefined ? { body: { content: f.body, contentType: 'text' } } : {}),
    dueDateTime: due ? { dateTime: due.replace(/Z$/, ''), timeZone: 'UTC' } : null,
    status: f.done ? 'completed' : 'notStarted',
  };
}

/**
 * Tasks over Microsoft Graph: Microsoft To Do's default list (the mailbox's Tasks folder).
 * A task is stamped with a linked resource (applicationName exchange-crm-sync, externalId the
 * CRM id) — To Do has no extended properties, so a task stamped over EWS is not recognised
 * here. Its version is its etag; Graph has no app-only notifications for To Do, so tasks are
 * read by the list's delta at the poll interval.
 */
export class GraphTodo {
  private readonly lists = new Map<string, Promise<string>>();

  constructor(private readonly http: GraphHttp, private readonly now: () => number) {}

  async create(mailbox: string, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }> {
    const body = { ...taskBodyOf(fields), ...(fields.typeCategory ? { categories: withTypeCategory([], fields.typeCategory) } : {}), linkedResources: [{ applicationName: LINKED_APPLICATION, externalId: crmId, displayName: crmId, webUrl: '' }] };
    const made = (await this.http.call('POST', `${await this.tasks(mailbox)}`, { body, context: { mailbox, crmId } })).body as GraphTask;
    return { itemId: made.id, changeKey: versionOf(made) };
  }

  /** The task linked to this CRM id: the list is read (To Do filters no linked resources), in pages of 100. */
  async findStamped(mailbox: string, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined> {
    for (let next: string | undefined = `${await this.tasks(mailbox)}?$top=100&$expand=linkedResources`; next;) {
      const page = (await this.http.call('GET', next, { context: { mailbox, crmId } })).body as { value?: GraphTask[]; '@odata.nextLink'?: string };
      const found = (page.value ?? []).find((t) => t.linkedResources?.some((l) => l.applicationName === LINKED_APPLICATION && l.externalId === crmId));
      if (found) return { itemId: found.id, changeKey: versionOf(found) };
      next = page['@odata.nextLink'];
    }
    return undefined;
  }

  async update(mailbox: string, itemId: string, fields: ItemFields, ifChangeKey?: string, keep?: KeptProperties): Promise<UpdateOutcome> {
    const task = await this.task(mailbox, itemId);
    const headers: Record<string, string> = ifChangeKey !== undefined ? { 'if-match': `W/"${ifChangeKey}"` } : {};
    const body = taskBodyOf(fields);
    // what the update keeps is not sent: a PATCH leaves what it does not name
    if (keep?.has('subject')) delete body.title;
    if (keep?.has('body')) delete body.body;
    if (keep?.has('due')) delete body.dueDateTime;
    if (keep?.has('done')) delete body.status;
    if (fields.typeCategory) {
      // the record's type as a category: the task's others stay, so they are read first (only
      // where <sync><category> pairs are configured: otherwise the PATCH costs no read)
      const now = await this.http.call('GET', `${task}?$select=id,categories`, { accept: [404], context: { mailbox, itemId } });
      if (now.status === 404) return { status: 'missing' };
      body.categories = withTypeCategory((now.body as GraphTask).categories, fields.typeCategory);
    }
    const r = await this.http.call('PATCH', task, { body, headers, accept: [404, 412], context: { mailbox, itemId } });
    if (r.status === 404) return { status: 'missing' };
    if (r.status === 412) {
      const now = await this.http.call('GET', task, { accept: [404] });
      if (now.status === 404) return { status: 'missing' };
      const t = now.body as GraphTask;
      return { status: 'conflict', changeKey: versionOf(t), ...(t.lastModifiedDateTime ? { modified: t.lastModifiedDateTime } : {}) };
    }
    return { status: 'updated', changeKey: versionOf(r.body as GraphTask) };
  }

  async delete(mailbox: string, itemId: string): Promise<boolean> {
    const r = await this.http.call('DELETE', await this.task(mailbox, itemId), { accept: [404], context: { mailbox, itemId } });
    return r.status !== 404;
  }

  get(mailbox: string, itemIds: readonly string[]): Promise<FetchedItem[]> {
    return readBatch<GraphTask>(this.http, itemIds, async (id) => ({ method: 'GET', url: `${await this.task(mailbox, id)}?$expand=linkedResources` }), fieldsOfTask);
  }

  async list(mailbox: string): Promise<ListedItem[]> {
    const items: ListedItem[] = [];
    for (let next: string | undefined = `${await this.tasks(mailbox)}?$top=1000`; next;) {
      const page = (await this.http.call('GET', next, { context: { mailbox } })).body as { value?: GraphTask[]; '@odata.nextLink'?: string };
      for (const t of page.value ?? []) items.push({ itemId: t.id, changeKey: versionOf(t) });
      next = page['@odata.nextLink'];
    }
    return items;
  }

  /** One page of the default list's delta (todotask-delta.md); `@removed` is a delete. */
  async readChanges(mailbox: string, position: string | null, maxChanges: number): Promise<FolderChangePage> {
    const saved = position ? parseDeltaPosition(position, 'To Do') : undefined;
    const since = saved?.since ?? this.now();
    const link = saved?.link ?? `${await this.tasks(mailbox)}/delta`;
    const started = this.now();
    const r = await this.http.call('GET', link, { headers: { prefer: `odata.maxpagesize=${Math.min(maxChanges, 1000)}` }, context: { mailbox, folder: 'tasks' } });
    const page = r.body as { value?: GraphTask[]; '@odata.nextLink'?: string; '@odata.deltaLink'?: string };
    const changes: FolderChange[] = (page.value ?? []).map((t) => {
      if (t['@removed']) return { type: 'Delete' as const, itemId: t.id };
      const created = t.createdDateTime ? Date.parse(t.createdDateTime) : 0;
      return { type: !position || created >= since - CLOCK_MARGIN_MS ? 'Create' as const : 'Update' as const, itemId: t.id, changeKey: versionOf(t) };
    });
    return { ...positionAfter(page, since, started, `task delta of ${mailbox}`), changes };
  }

  /** The default list's tasks (its id learned once per mailbox). */
  private async tasks(mailbox: string): Promise<string> {
    let id = this.lists.get(mailbox);
    if (!id) {
      id = (async () => {
        const r = await this.http.call('GET', `/users/${encodeURIComponent(mailbox)}/todo/lists`, { context: { mailbox } });
        const list = ((r.body as { value?: Array<{ id: string; wellknownListName?: string }> }).value ?? []).find((l) => l.wellknownListName === 'defaultList');
        if (!list) throw new GraphApiError(404, 'ErrorItemNotFound', `${mailbox} has no default To Do list`);
        return list.id;
      })();
      this.lists.set(mailbox, id);
      id.catch(() => this.lists.delete(mailbox));
    }
    return `/users/${encodeURIComponent(mailbox)}/todo/lists/${encodeURIComponent(await id)}/tasks`;
  }

  private async task(mailbox: string, itemId: string): Promise<string> {
    return `${await this.tasks(mailbox)}/${encodeURIComponent(itemId)}`;
  }
}
