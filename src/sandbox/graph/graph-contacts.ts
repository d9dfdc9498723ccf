import { folderIdOf, parseFolderId } from '../ids.js';
import type { StoredItem } from '../mailbox-store.js';
import { contactOf, propsOfContact } from './contact-json.js';
import { extendedUriOf, GraphError } from './event-json.js';
import { folderDelta } from './folder-delta.js';
import { checkIfMatch, type MailboxReply, type MailboxRequest } from './mailbox-request.js';
import { ewsIdOf, parseGraphId, restIdOf } from './graph-ids.js';

/** A contacts request: $expand=singleValueExtendedProperties($filter=id eq '…') besides. */
export interface ContactsContext extends MailboxRequest {
  readonly extended: readonly string[] | undefined;
}

type ContactsReply = MailboxReply;

const DEFAULT_PAGE = 10;
const MAX_PAGE = 1_000;
/** The folder Exchange calls Contacts: contactFolders are its children. */
const CONTACTS = 'contacts';

/**
 * Contacts and contact folders of the one mailbox store over Graph (contact.md,
 * contactfolder-post-contacts.md, contact-delta.md): `/contacts` (the default Contacts
 * folder), `/contactFolders` (its child folders: list with a displayName filter, create — a
 * second of one name is 409 ErrorFolderExists, as EWS's ErrorFolderExists — rename, delete),
 * each folder's `/contacts` and its delta; contacts read, created, changed with If-Match and
 * deleted. Routes: the path after /users/{id}/.
 */
export function serveContacts(ctx: ContactsContext, path: string[]): ContactsReply {
  const [head, id, tail, fn] = path;
  const route = `${ctx.method} ${head.toLowerCase()}${id !== undefined ? '/{id}' : ''}${tail ? `/${tail.toLowerCase()}` : ''}${fn ? `/${fn.toLowerCase()}` : ''}`;
  switch (route) {
    case 'GET contacts': return list(ctx, CONTACTS);
    case 'POST contacts': return create(ctx, CONTACTS);
    case 'GET contacts/{id}': return { status: 200, body: contactOf(ctx.mailbox, contact(ctx, id!), { extended: ctx.extended }) };
    case 'PATCH contacts/{id}': return update(ctx, contact(ctx, id!));
    case 'DELETE contacts/{id}':
      ctx.store.moveItem(ctx.mailbox, contact(ctx, id!), 'deleteditems');
      return { status: 204 };
    case 'GET contactfolders': return folders(ctx);
    case 'POST contactfolders': return createFolder(ctx);
    case 'GET contactfolders/{id}': return { status: 200, body: folderJson(ctx, folder(ctx, id!)) };
    case 'PATCH contactfolders/{id}': {
      const key = folder(ctx, id!);
      const name = String((ctx.body as { displayName?: unknown } | undefined)?.displayName ?? '').trim();
      if (!name) throw new GraphError(400, 'ErrorInvalidRequest', 'A folder needs a displayName.');
      sameName(ctx, name, key);
      ctx.store.renameFolder(ctx.mailbox, key, name);
      return { status: 200, body: folderJson(ctx, key) };
    }
    case 'DELETE contactfolders/{id}':
      ctx.store.deleteFolder(ctx.mailbox, folder(ctx, id!));
      return { status: 204 };
    case 'GET contactfolders/{id}/contacts': return list(ctx, folder(ctx, id!, true));
    case 'POST contactfolders/{id}/contacts': return create(ctx, folder(ctx, id!, true));
    case 'GET contactfolders/{id}/contacts/delta': return delta(ctx, folder(ctx, id!, true));
    default: throw new GraphError(405, 'ErrorInvalidRequest', `The sandbox does not serve ${ctx.method} ${ctx.url.pathname}.`);
  }
}

const folderGraphId = (ctx: ContactsContext, key: string): string => restIdOf(folderIdOf(ctx.mailbox.index, key));

/** A contact folder by its Graph id: a child of Contacts, or Contacts itself where contacts are listed (`orDefault`). */
function folder(ctx: ContactsContext, id: string, orDefault = false): string {
  const parsed = parseFolderId(ewsIdOf(id));
  const key = parsed && parsed.mailbox === ctx.mailbox.index ? parsed.folder : undefined;
  const f = key !== undefined ? ctx.mailbox.folders.get(key) : undefined;
  const served = !!f && (key === CONTACTS ? orDefault : f.parent === CONTACTS);
  if (!served) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return key!;
}

function folderJson(ctx: ContactsContext, key: string): Record<string, unknown> {
  const f = ctx.mailbox.folders.get(key)!;
  return { id: folderGraphId(ctx, key), displayName: f.displayName, parentFolderId: folderGraphId(ctx, f.parent) };
}

function sameName(ctx: ContactsContext, name: string, except?: string): void {
  for (const f of ctx.mailbox.folders.values()) {
    if (f.key !== except && f.parent === CONTACTS && f.displayName.toLowerCase() === name.toLowerCase()) throw new GraphError(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
  }
}

function folders(ctx: ContactsContext): ContactsReply {
  let list = [...ctx.mailbox.folders.values()].filter((f) => f.parent === CONTACTS && f.key !== CONTACTS);
  const filter = ctx.url.searchParams.get('$filter');
  if (filter) {
    const m = /^displayName\s+eq\s+'((?:[^']|'')*)'$/i.exec(filter.trim());
    if (!m) throw new GraphError(501, 'NotImplemented', `The sandbox filters contact folders only by displayName eq '…', not: ${filter}`);
    const name = m[1].replace(/''/g, "'").toLowerCase();
    list = list.filter((f) => f.displayName.toLowerCase() === name);
  }
  return { status: 200, body: { value: list.map((f) => folderJson(ctx, f.key)) } };
}

function createFolder(ctx: ContactsContext): ContactsReply {
  const name = String((ctx.body as { displayName?: unknown } | undefined)?.displayName ?? '').trim();
  if (!name) throw new GraphError(400, 'ErrorInvalidRequest', 'A folder needs a displayName.');
  sameName(ctx, name);
  const f = ctx.store.createFolder(ctx.mailbox, CONTACTS, name, 'IPF.Contact');
  return { status: 201, body: folderJson(ctx, f.key) };
}

function contact(ctx: ContactsContext, id: string): StoredItem {
  const key = parseGraphId(id);
  const item = key && key.mailbox === ctx.mailbox.index ? ctx.mailbox.items.get(key.item) : undefined;
  const f = item ? ctx.mailbox.folders.get(item.folder) : undefined;
  if (!item || item.kind !== 'Contact' || !f || (f.key !== CONTACTS && f.parent !== CONTACTS)) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return item;
}

function list(ctx: ContactsContext, key: string): ContactsReply {
  let items = ctx.store.itemsIn(ctx.mailbox, key).filter((i) => i.kind === 'Contact').sort((a, b) => a.seq - b.seq);
  const filter = ctx.url.searchParams.get('$filter');
  if (filter) {
    const f = /^singleValueExtendedProperties\/any\(\s*(\w+)\s*:\s*\1\/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1\/value\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(filter.trim());
    if (!f) throw new GraphError(501, 'NotImplemented', `The sandbox filters contacts only by singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…'), not: ${filter}`);
    const { key: k } = extendedUriOf(f[2].replace(/''/g, "'"));
    const value = f[3].replace(/''/g, "'");
    items = items.filter((i) => i.extended.get(k)?.value === value);
  }
  const top = Math.min(MAX_PAGE, Number(ctx.url.searchParams.get('$top') ?? DEFAULT_PAGE) || DEFAULT_PAGE);
  const skip = Math.max(0, Number(ctx.url.searchParams.get('$skip') ?? 0) || 0);
  const select = ctx.url.searchParams.get('$select')?.split(',').map((s) => s.trim());
  const value = items.slice(skip, skip + top).map((i) => selected(contactOf(ctx.mailbox, i, { extended: ctx.extended }), select));
  const next = new URL(ctx.url);
  next.searchParams.set('$skip', String(skip + top));
  return { status: 200, body: { value, ...(skip + top < items.length ? { '@odata.nextLink': next.toString().replace('https://graph.microsoft.com/v1.0', ctx.base) } : {}) } };
}

function selected(value: Record<string, unknown>, select: readonly string[] | undefined): Record<string, unknown> {
  if (!select) return value;
  const keep = new Set(['@odata.etag', 'id', ...select, ...(value.singleValueExtendedProperties ? ['singleValueExtendedProperties'] : [])]);
  return Object.fromEntries(Object.entries(value).filter(([k]) => keep.has(k)));
}

function create(ctx: ContactsContext, key: string): ContactsReply {
  if (!ctx.body || typeof ctx.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  const { props, extended } = propsOfContact(ctx.body as Record<string, unknown>);
  const item = ctx.store.createItem(ctx.mailbox, key, 'Contact', props, extended);
  return { status: 201, body: contactOf(ctx.mailbox, item) };
}

function update(ctx: ContactsContext, item: StoredItem): ContactsReply {
  checkIfMatch(ctx.ifMatch, item);
  if (!ctx.body || typeof ctx.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  const { props, extended, cleared } = propsOfContact(ctx.body as Record<string, unknown>, item.props);
  const merged = { ...item.props, ...props };
  for (const name of cleared) delete merged[name];
  item.props = merged;
  for (const [k, v] of extended) item.extended.set(k, v);
  ctx.store.touch(ctx.mailbox, item);
  return { status: 200, body: contactOf(ctx.mailbox, item) };
}

/** A folder's contacts delta. */
function delta(ctx: ContactsContext, key: string): ContactsReply {
  return folderDelta({
    store: ctx.store, mailbox: ctx.mailbox, url: ctx.url, prefer: ctx.prefer, epoch: ctx.epoch, generation: ctx.generation, folder: key,
    link: `${ctx.base}/users/${encodeURIComponent(ctx.mailbox.address)}/contactFolders/${encodeURIComponent(folderGraphId(ctx, key))}/contacts/delta`,
    odataType: '#microsoft.graph.contact', includes: (i) => i.kind === 'Contact', jsonOf: (i) => contactOf(ctx.mailbox, i),
  });
}
