import type { FetchedItem, FolderChange, FolderChangePage, ListedItem, UpdateOutcome } from '../exchange/index.js';
import type { ItemFields } from '../shared/item-fields.js';
import { CONTACT_PROPERTY_IDS, contactBodyOf, fieldsOfContact, type GraphContact } from './contact-fields.js';
import { STAMP_PROPERTY_ID } from './event-fields.js';
import { CLOCK_MARGIN_MS, parseDeltaPosition, positionAfter } from './delta-position.js';
import { GraphApiError } from './graph-error.js';
import { batchError, type GraphHttp } from './graph-http.js';
import { readBatch } from './read-batch.js';

const q = (s: string): string => s.replace(/'/g, "''");
const EXPAND_CONTACT = `$expand=singleValueExtendedProperties($filter=${CONTACT_PROPERTY_IDS.map((id) => `id eq '${id}'`).join(' or ')})`;
const EXPAND_STAMP = `$expand=singleValueExtendedProperties($filter=id eq '${STAMP_PROPERTY_ID}')`;

/**
 * Contacts over Microsoft Graph: the mailbox's Contacts folder (the contacts synced with the
 * CRM's persons) and contact folders under it (a CRM selection each), stamped with the same
 * extended property as over EWS. Graph's contact delta is per folder: the Contacts folder's
 * id is learned from a contact in it (or a child folder's parent); a mailbox with neither has
 * nothing to read yet.
 */
export class GraphContacts {
  constructor(private readonly http: GraphHttp, private readonly now: () => number) {}

  async create(mailbox: string, fields: ItemFields, crmId: string, folderId?: string): Promise<{ itemId: string; changeKey: string }> {
    const r = await this.http.call('POST', folderId ? `${this.folder(mailbox, folderId)}/contacts` : this.contacts(mailbox), { body: this.bodyOf(fields, crmId), context: { mailbox, crmId } });
    const made = r.body as GraphContact;
    return { itemId: made.id, changeKey: made.changeKey ?? '' };
  }

  async findStamped(mailbox: string, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined> {
    const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${q(STAMP_PROPERTY_ID)}' and ep/value eq '${q(crmId)}')`;
    const r = await this.http.call('GET', `${this.contacts(mailbox)}?$filter=${encodeURIComponent(filter)}&$select=id,changeKey&$top=2`, { context: { mailbox, crmId } });
    const found = ((r.body as { value?: GraphContact[] }).value ?? [])[0];
    return found ? { itemId: found.id, changeKey: found.changeKey ?? '' } : undefined;
  }

  async update(mailbox: string, itemId: string, fields: ItemFields, ifChangeKey?: string): Promise<UpdateOutcome> {
    const headers: Record<string, string> = ifChangeKey !== undefined ? { 'if-match': `W/"${ifChangeKey}"` } : {};
    const r = await this.http.call('PATCH', this.contact(mailbox, itemId), { body: contactBodyOf(fields), headers, accept: [404, 412], context: { mailbox, itemId } });
    if (r.status === 404) return { status: 'missing' };
    if (r.status === 412) {
      const now = await this.http.call('GET', `${this.contact(mailbox, itemId)}?$select=id,changeKey,lastModifiedDateTime`, { accept: [404] });
      if (now.status === 404) return { status: 'missing' };
      const c = now.body as GraphContact;
      return { status: 'conflict', changeKey: c.changeKey, ...(c.lastModifiedDateTime ? { modified: c.lastModifiedDateTime } : {}) };
    }
    return { status: 'updated', changeKey: (r.body as GraphContact).changeKey ?? '' };
  }

  /** DELETE of a contact; false when it is not one (or gone). */
  async delete(mailbox: string, itemId: string): Promise<boolean> {
    const r = await this.http.call('DELETE', this.contact(mailbox, itemId), { accept: [404], context: { mailbox, itemId } });
    return r.status !== 404;
  }

  async deleteMany(mailbox: string, itemIds: readonly string[]): Promise<void> {
    const parts = itemIds.map((id) => ({ method: 'DELETE', url: this.contact(mailbox, id) }));
    const answers = await this.http.batch(parts);
    answers.forEach((a, i) => {
      const err = batchError(parts[i], a, [404]);
      if (err) throw err;
    });
  }

  get(mailbox: string, itemIds: readonly string[]): Promise<FetchedItem[]> {
    return readBatch<GraphContact>(this.http, itemIds, (id) => ({ method: 'GET', url: `${this.contact(mailbox, id)}?${EXPAND_CONTACT}` }), fieldsOfContact);
  }

  async list(mailbox: string): Promise<ListedItem[]> {
    const items: ListedItem[] = [];
    for (let next: string | undefined = `${this.contacts(mailbox)}?$select=id,changeKey&$top=1000`; next;) {
      const page = (await this.http.call('GET', next, { context: { mailbox } })).body as { value?: GraphContact[]; '@odata.nextLink'?: string };
      for (const c of page.value ?? []) items.push({ itemId: c.id, changeKey: c.changeKey });
      next = page['@odata.nextLink'];
    }
    return items;
  }

  /** A child folder of Contacts by name, made if there is none (a create cut short is adopted, never doubled). */
  async ensureFolder(mailbox: string, displayName: string): Promise<string> {
    const find = async (): Promise<string | undefined> => {
      const r = await this.http.call('GET', `/users/${encodeURIComponent(mailbox)}/contactFolders?$filter=${encodeURIComponent(`displayName eq '${q(displayName)}'`)}&$select=id,displayName`, { context: { mailbox } });
      return ((r.body as { value?: Array<{ id: string }> }).value ?? [])[0]?.id;
    };
    const found = await find();
    if (found) return found;
    const r = await this.http.call('POST', `/users/${encodeURIComponent(mailbox)}/contactFolders`, { body: { displayName }, accept: [409], context: { mailbox, displayName } });
    if (r.status !== 409) return (r.body as { id: string }).id;
    // made meanwhile (another instance, an attempt cut short): that one
    const now = await find();
    if (!now) throw new GraphApiError(409, 'ErrorFolderExists', `a contact folder "${displayName}" exists in ${mailbox} but is not found by its name`);
    return now;
  }

  async renameFolder(mailbox: string, folderId: string, displayName: string): Promise<boolean> {
    const r = await this.http.call('PATCH', this.folder(mailbox, folderId), { body: { displayName }, accept: [404], context: { mailbox, folderId } });
    return r.status !== 404;
  }

  async deleteFolder(mailbox: string, folderId: string): Promise<boolean> {
    const r = await this.http.call('DELETE', this.folder(mailbox, folderId), { accept: [404], context: { mailbox, folderId } });
    return r.status !== 404;
  }

  /** Contacts into a folder, in $batch requests of 20; one result per entry, in order. */
  async createMany(mailbox: string, folderId: string, entries: ReadonlyArray<{ fields: ItemFields; crmId: string }>): Promise<Array<{ itemId: string; changeKey: string } | { error: Error }>> {
    const parts = entries.map((e) => ({ method: 'POST', url: `${this.folder(mailbox, folderId)}/contacts`, body: this.bodyOf(e.fields, e.crmId), headers: { 'content-type': 'application/json' } }));
    const answers = await this.http.batch(parts);
    return answers.map((a, i) => {
      const err = batchError(parts[i], a);
      if (err) return { error: err };
      const c = a.body as GraphContact;
      return { itemId: c.id, changeKey: c.changeKey ?? '' };
    });
  }

  async stampedIn(mailbox: string, folderId: string): Promise<Map<string, { itemId: string; changeKey: string }>> {
    const out = new Map<string, { itemId: string; changeKey: string }>();
    for (let next: string | undefined = `${this.folder(mailbox, folderId)}/contacts?$select=id,changeKey&$top=1000&${EXPAND_STAMP}`; next;) {
      const page = (await this.http.call('GET', next, { context: { mailbox, folderId } })).body as { value?: GraphContact[]; '@odata.nextLink'?: string };
      for (const c of page.value ?? []) {
        const crmId = c.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === STAMP_PROPERTY_ID.toLowerCase())?.value;
        if (crmId) out.set(crmId, { itemId: c.id, changeKey: c.changeKey ?? '' });
      }
      next = page['@odata.nextLink'];
    }
    return out;
  }

  /** One page of the Contacts folder's delta; `@removed` is a delete (contacts have no window). */
  async readChanges(mailbox: string, position: string | null, maxChanges: number): Promise<FolderChangePage> {
    const saved = position ? parseDeltaPosition(position, 'contacts') : undefined;
    const since = saved?.since ?? this.now();
    let link = saved?.link;
    if (!link) {
      const folderId = await this.contactsFolderId(mailbox);
      // nothing in Contacts and no folder under it: nothing to read yet (asked again next time)
      if (!folderId) return { position: JSON.stringify({ link: '', since }), complete: true, changes: [] };
      link = `${this.folder(mailbox, folderId)}/contacts/delta?$select=id,changeKey,createdDateTime`;
    }
    const started = this.now();
    const r = await this.http.call('GET', link, { headers: { prefer: `odata.maxpagesize=${Math.min(maxChanges, 1000)}` }, context: { mailbox, folder: 'contacts' } });
    const page = r.body as { value?: GraphContact[]; '@odata.nextLink'?: string; '@odata.deltaLink'?: string };
    const changes: FolderChange[] = (page.value ?? []).map((c) => {
      if (c['@removed']) return { type: 'Delete' as const, itemId: c.id };
      const created = c.createdDateTime ? Date.parse(c.createdDateTime) : 0;
      return { type: !position || !saved?.link || created >= since - CLOCK_MARGIN_MS ? 'Create' as const : 'Update' as const, itemId: c.id, changeKey: c.changeKey };
    });
    return { ...positionAfter(page, since, started, `contacts delta of ${mailbox}`), changes };
  }

  /** Graph names no well-known contacts folder: its id is a contact's parent, or a child folder's. */
  private async contactsFolderId(mailbox: string): Promise<string | undefined> {
    const contact = await this.http.call('GET', `${this.contacts(mailbox)}?$select=id,parentFolderId&$top=1`, { context: { mailbox } });
    const first = ((contact.body as { value?: GraphContact[] }).value ?? [])[0];
    if (first?.parentFolderId) return first.parentFolderId;
    const folders = await this.http.call('GET', `/users/${encodeURIComponent(mailbox)}/contactFolders?$select=id,parentFolderId&$top=1`, { context: { mailbox } });
    return ((folders.body as { value?: Array<{ parentFolderId?: string }> }).value ?? [])[0]?.parentFolderId;
  }

  private bodyOf(fields: ItemFields, crmId: string): Record<string, unknown> {
    const body = contactBodyOf(fields);
    return { ...body, singleValueExtendedProperties: [...(body.singleValueExtendedProperties as unknown[]), { id: STAMP_PROPERTY_ID, value: crmId }] };
  }

  private contacts(mailbox: string): string {
    return `/users/${encodeURIComponent(mailbox)}/contacts`;
  }

  private contact(mailbox: string, itemId: string): string {
    return `/users/${encodeURIComponent(mailbox)}/contacts/${encodeURIComponent(itemId)}`;
  }

  private folder(mailbox: string, folderId: string): string {
    return `/users/${encodeURIComponent(mailbox)}/contactFolders/${encodeURIComponent(folderId)}`;
  }
}
