import { formatUtc } from '../../shared/time-zones.js';
import { changeKeyOf, folderIdOf, parseFolderId } from '../ids.js';
import type { ExtendedValue, Mailbox, PropertyValue, StoredItem } from '../mailbox-store.js';
import type { XmlElement } from '../../shared/safe-xml.js';
import { GraphError } from './event-json.js';
import { folderDelta } from './folder-delta.js';
import { checkIfMatch, type MailboxReply, type MailboxRequest } from './mailbox-request.js';
import { ewsIdOf, graphIdOf, parseGraphId, restIdOf } from './graph-ids.js';

/**
 * Microsoft To Do over the one mailbox store (todotask.md, todotask-delta.md): the mailbox's
 * Tasks folder is its default list (wellknownListName "defaultList"); its tasks are the EWS
 * tasks of that folder. Tasks read, created (with linkedResources, the way an app ties a task
 * to its own record), changed with If-Match on the @odata.etag, deleted; the list's delta.
 * To Do has no ChangeKey property and no extended properties: the version is the etag.
 */

type TodoContext = MailboxRequest;
type TodoReply = MailboxReply;

const TASKS = 'tasks';
const DEFAULT_PAGE = 10;
const MAX_PAGE = 1_000;
const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const el = (local: string, text: string, attrs: Record<string, string> = {}): XmlElement => ({ name: `t:${local}`, local, uri: NS_T, attrs, children: [], text });
const text = (v: PropertyValue | undefined): string | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : v.text);
const STATUS: Record<string, string> = { NotStarted: 'notStarted', InProgress: 'inProgress', Completed: 'completed', WaitingOnOthers: 'waitingOnOthers', Deferred: 'deferred' };
const STATUS_OF = Object.fromEntries(Object.entries(STATUS).map(([k, v]) => [v, k]));
/** Where a task's linkedResources are kept with the item (Exchange keeps them as properties of it). */
const LINKS_KEY = 'sandbox-graph:n:linkedResources';
const LINKS_URI: XmlElement = { name: 't:ExtendedFieldURI', local: 'ExtendedFieldURI', uri: NS_T, attrs: { PropertySetId: 'sandbox-graph', PropertyName: 'linkedResources', PropertyType: 'String' }, children: [], text: '' };

const dateTimeTimeZone = (utc: string | undefined): { dateTime: string; timeZone: string } | null => (utc ? { dateTime: `${utc.replace(/Z$/, '')}.0000000`, timeZone: 'UTC' } : null);

function linksOf(item: StoredItem): Array<Record<string, string>> {
  const v = item.extended.get(LINKS_KEY)?.value;
  try {
    return typeof v === 'string' ? (JSON.parse(v) as Array<Record<string, string>>) : [];
  } catch {
    return [];
  }
}

export function taskOf(mailbox: Mailbox, item: StoredItem, expandLinks = false): Record<string, unknown> {
  const p = item.props;
  const status = STATUS[text(p.Status) ?? 'NotStarted'] ?? 'notStarted';
  const task: Record<string, unknown> = {
    '@odata.etag': `W/"${changeKeyOf(item.version)}"`,
    id: graphIdOf(mailbox.index, item.seq),
    title: text(p.Subject) ?? '',
    body: { content: text(p.Body) ?? '', contentType: 'text' },
    importance: (text(p.Importance) ?? 'Normal').toLowerCase(),
    status,
    isReminderOn: text(p.ReminderIsSet) === 'true',
    categories: typeof p.Categories === 'object' ? p.Categories.children.map((s) => s.text) : [],
    createdDateTime: new Date(item.created).toISOString(),
    lastModifiedDateTime: new Date(item.modified).toISOString(),
    bodyLastModifiedDateTime: new Date(item.modified).toISOString(),
    hasAttachments: false,
    dueDateTime: dateTimeTimeZone(text(p.DueDate)),
    startDateTime: dateTimeTimeZone(text(p.StartDate)),
    completedDateTime: status === 'completed' ? dateTimeTimeZone(text(p.CompleteDate) ?? formatUtc(item.modified)) : null,
  };
  if (expandLinks) task.linkedResources = linksOf(item).map((l, i) => ({ id: `${graphIdOf(mailbox.index, item.seq)}-link-${i}`, ...l }));
  return task;
}

/** The store's properties a POST or PATCH body sets (only those it names). */
function propsOfTask(body: Record<string, unknown>): { props: Record<string, PropertyValue>; cleared: string[]; links?: Array<Record<string, string>> } {
  const props: Record<string, PropertyValue> = {};
  const cleared: string[] = [];
  let links: Array<Record<string, string>> | undefined;
  const time = (key: string, v: unknown): string | undefined => {
    if (v === null || v === undefined) return undefined;
    const dt = (v as { dateTime?: unknown; timeZone?: unknown }).dateTime;
    const zone = (v as { timeZone?: unknown }).timeZone;
    if (typeof dt !== 'string' || (zone !== undefined && zone !== 'UTC')) throw new GraphError(400, 'invalidRequest', `${key}: the sandbox takes dateTimeTimeZone in UTC ({"dateTime": "…", "timeZone": "UTC"}).`);
    const ms = Date.parse(`${dt.replace(/(\.\d+)?Z?$/, '')}Z`);
    if (Number.isNaN(ms)) throw new GraphError(400, 'invalidRequest', `${key}: '${dt}' is not a date and time.`);
    return formatUtc(ms);
  };
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'title': props.Subject = String(value ?? ''); break;
      case 'body': props.Body = el('Body', String((value as { content?: unknown } | null)?.content ?? ''), { BodyType: 'Text' }); break;
      case 'importance': props.Importance = String(value).charAt(0).toUpperCase() + String(value).slice(1); break;
      case 'status': {
        const s = STATUS_OF[String(value)];
        if (!s) throw new GraphError(400, 'invalidRequest', `status '${String(value)}' is not one of ${Object.keys(STATUS_OF).join(', ')}.`);
        props.Status = s;
        props.IsComplete = String(s === 'Completed');
        props.PercentComplete = s === 'Completed' ? '100' : '0';
        break;
      }
      case 'dueDateTime':
      case 'startDateTime': {
        const name = key === 'dueDateTime' ? 'DueDate' : 'StartDate';
        const t = time(key, value);
        if (t) props[name] = t;
        else cleared.push(name);
        break;
      }
      case 'categories': props.Categories = { ...el('Categories', ''), children: (Array.isArray(value) ? value : []).map((c) => el('String', String(c))) }; break;
      case 'isReminderOn': props.ReminderIsSet = String(value === true); break;
      case 'linkedResources':
        links = (Array.isArray(value) ? value : []).map((l) => Object.fromEntries(Object.entries(l as Record<string, unknown>).filter(([k]) => ['webUrl', 'applicationName', 'displayName', 'externalId'].includes(k)).map(([k, v]) => [k, String(v ?? '')])));
        break;
      default: break; // read-only or not kept: accepted and ignored
    }
  }
  return { props, cleared, ...(links ? { links } : {}) };
}

/** Routes after /users/{id}/todo/. */
export function serveTodo(ctx: TodoContext, path: string[]): TodoReply {
  const [lists, listId, tasks, taskId, more] = path;
  if (lists?.toLowerCase() !== 'lists') throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${lists ?? ''}'.`);
  const route = `${ctx.method} lists${listId !== undefined ? '/{id}' : ''}${tasks ? `/${tasks.toLowerCase()}` : ''}${taskId !== undefined ? (taskId.toLowerCase() === 'delta' ? '/delta' : '/{id}') : ''}${more ? `/${more.toLowerCase()}` : ''}`;
  switch (route) {
    case 'GET lists': return { status: 200, body: { value: [listJson(ctx)] } };
    case 'GET lists/{id}': list(ctx, listId!); return { status: 200, body: listJson(ctx) };
    case 'GET lists/{id}/tasks': list(ctx, listId!); return page(ctx);
    case 'POST lists/{id}/tasks': list(ctx, listId!); return create(ctx);
    case 'GET lists/{id}/tasks/delta': list(ctx, listId!); return delta(ctx, listId!);
    case 'GET lists/{id}/tasks/{id}': list(ctx, listId!); return { status: 200, body: taskOf(ctx.mailbox, task(ctx, taskId!), expandsLinks(ctx.url)) };
    case 'PATCH lists/{id}/tasks/{id}': list(ctx, listId!); return update(ctx, task(ctx, taskId!));
    case 'DELETE lists/{id}/tasks/{id}':
      list(ctx, listId!);
      // to Deleted Items, as Outlook's delete does
      ctx.store.moveItem(ctx.mailbox, task(ctx, taskId!), 'deleteditems');
      return { status: 204 };
    default: throw new GraphError(405, 'invalidRequest', `The sandbox does not serve ${ctx.method} ${ctx.url.pathname}.`);
  }
}

const listGraphId = (ctx: TodoContext): string => restIdOf(folderIdOf(ctx.mailbox.index, TASKS));
const listJson = (ctx: TodoContext): Record<string, unknown> => ({ id: listGraphId(ctx), displayName: 'Tasks', isOwner: true, isShared: false, wellknownListName: 'defaultList' });

function list(ctx: TodoContext, id: string): void {
  const parsed = parseFolderId(ewsIdOf(id));
  if (!parsed || parsed.mailbox !== ctx.mailbox.index || parsed.folder !== TASKS) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
}

function task(ctx: TodoContext, id: string): StoredItem {
  const key = parseGraphId(id);
  const item = key && key.mailbox === ctx.mailbox.index ? ctx.mailbox.items.get(key.item) : undefined;
  if (!item || item.folder !== TASKS || item.kind !== 'Task') throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return item;
}

const expandsLinks = (url: URL): boolean => {
  const expand = url.searchParams.get('$expand');
  if (!expand) return false;
  if (expand.trim().toLowerCase() !== 'linkedresources') throw new GraphError(501, 'NotImplemented', `The sandbox expands only linkedResources on tasks, not: ${expand}`);
  return true;
};

function page(ctx: TodoContext): TodoReply {
  const items = ctx.store.itemsIn(ctx.mailbox, TASKS).filter((i) => i.kind === 'Task').sort((a, b) => a.seq - b.seq);
  const top = Math.min(MAX_PAGE, Number(ctx.url.searchParams.get('$top') ?? DEFAULT_PAGE) || DEFAULT_PAGE);
  const skip = Math.max(0, Number(ctx.url.searchParams.get('$skip') ?? 0) || 0);
  const links = expandsLinks(ctx.url);
  const value = items.slice(skip, skip + top).map((i) => taskOf(ctx.mailbox, i, links));
  const next = new URL(ctx.url);
  next.searchParams.set('$skip', String(skip + top));
  return { status: 200, body: { value, ...(skip + top < items.length ? { '@odata.nextLink': next.toString().replace('https://graph.microsoft.com/v1.0', ctx.base) } : {}) } };
}

function create(ctx: TodoContext): TodoReply {
  if (!ctx.body || typeof ctx.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  const { props, links } = propsOfTask(ctx.body as Record<string, unknown>);
  if (!props.Subject) throw new GraphError(400, 'invalidRequest', 'A task needs a title.');
  props.Status ??= 'NotStarted';
  const extended = new Map<string, ExtendedValue>(links ? [[LINKS_KEY, { uri: LINKS_URI, value: JSON.stringify(links) }]] : []);
  const item = ctx.store.createItem(ctx.mailbox, TASKS, 'Task', props, extended);
  return { status: 201, body: taskOf(ctx.mailbox, item, true) };
}

function update(ctx: TodoContext, item: StoredItem): TodoReply {
  checkIfMatch(ctx.ifMatch, item);
  if (!ctx.body || typeof ctx.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  const { props, cleared, links } = propsOfTask(ctx.body as Record<string, unknown>);
  const merged = { ...item.props, ...props };
  for (const name of cleared) delete merged[name];
  item.props = merged;
  if (links) item.extended.set(LINKS_KEY, { uri: LINKS_URI, value: JSON.stringify(links) });
  ctx.store.touch(ctx.mailbox, item);
  return { status: 200, body: taskOf(ctx.mailbox, item) };
}

/** The default list's delta. */
function delta(ctx: TodoContext, listId: string): TodoReply {
  return folderDelta({
    store: ctx.store, mailbox: ctx.mailbox, url: ctx.url, prefer: ctx.prefer, epoch: ctx.epoch, generation: ctx.generation, folder: TASKS,
    link: `${ctx.base}/users/${encodeURIComponent(ctx.mailbox.address)}/todo/lists/${encodeURIComponent(listId)}/tasks/delta`,
    odataType: '#microsoft.graph.todoTask', includes: (i) => i.kind === 'Task', jsonOf: (i) => taskOf(ctx.mailbox, i),
  });
}
