import { childNamed, type XmlElement } from '../../shared/safe-xml.js';
import { EwsResponseError, perElement, resolveFolder, type EwsContext } from '../ews-context.js';
import { folderChangeKeyOf, folderIdOf } from '../ids.js';
import type { Folder } from '../mailbox-store.js';
import { operationResponse, responseMessage } from '../soap.js';
import { el, wrap } from '../xml-writer.js';

const FOLDER_ELEMENT: Record<string, string> = { 'IPF.Appointment': 't:CalendarFolder', 'IPF.Task': 't:TasksFolder', 'IPF.Contact': 't:ContactsFolder' };

function folderElement(folder: Folder): string {
  return FOLDER_ELEMENT[folder.folderClass] ?? 't:Folder';
}

/** A folder as FolderShape asks (IdOnly, Default or AllProperties), elements in schema order. */
export function folderXml(ctx: EwsContext, folder: Folder, base: string, additional: ReadonlySet<string> = new Set()): string {
  const name = folderElement(folder);
  const idXml = el('t:FolderId', null, { Id: folderIdOf(ctx.mailbox.index, folder.key), ChangeKey: folderChangeKeyOf(ctx.mailbox.index) });
  if (base === 'IdOnly') return wrap(name, idXml + (additional.has('folder:DisplayName') ? el('t:DisplayName', folder.displayName) : ''));
  const total = ctx.mailbox.itemsByFolder.get(folder.key)?.size ?? 0;
  const children = [...ctx.mailbox.folders.values()].filter((f) => f.parent === folder.key && f.key !== folder.key).length;
  let inner = idXml;
  if (base === 'AllProperties') {
    if (folder.key !== 'root') inner += el('t:ParentFolderId', null, { Id: folderIdOf(ctx.mailbox.index, folder.parent), ChangeKey: folderChangeKeyOf(ctx.mailbox.index) });
    if (folder.folderClass) inner += el('t:FolderClass', folder.folderClass);
  }
  inner += el('t:DisplayName', folder.displayName) + el('t:TotalCount', total) + el('t:ChildFolderCount', children);
  if (base === 'AllProperties' && folder.distinguished) inner += el('t:DistinguishedFolderId', folder.key);
  if (name === 't:Folder') inner += el('t:UnreadCount', 0);
  return wrap(name, inner);
}

function baseShapeOf(body: XmlElement): string {
  const shape = childNamed(body, 'FolderShape');
  return shape ? (childNamed(shape, 'BaseShape')?.text.trim() ?? 'Default') : 'Default';
}

/** The FieldURIs a FolderShape's AdditionalProperties name. */
function additionalOf(body: XmlElement): Set<string> {
  const extra = childNamed(childNamed(body, 'FolderShape') ?? body, 'AdditionalProperties');
  return new Set((extra?.children ?? []).map((p) => p.attrs.FieldURI ?? '').filter(Boolean));
}

export function getFolder(ctx: EwsContext): string {
  const base = baseShapeOf(ctx.body);
  const additional = additionalOf(ctx.body);
  const ids = childNamed(ctx.body, 'FolderIds')?.children ?? [];
  const messages = perElement(
    ids,
    (ref) => responseMessage('GetFolder', wrap('m:Folders', folderXml(ctx, ctx.mailbox.folders.get(resolveFolder(ctx, ref))!, base, additional))),
    (err) => responseMessage('GetFolder', '<m:Folders/>', { code: err.code, text: err.message }),
  );
  return operationResponse('GetFolder', messages);
}

export function findFolder(ctx: EwsContext): string {
  const base = baseShapeOf(ctx.body);
  const additional = additionalOf(ctx.body);
  const deep = ctx.body.attrs.Traversal === 'Deep';
  const parents = childNamed(ctx.body, 'ParentFolderIds')?.children ?? [];
  const view = childNamed(ctx.body, 'IndexedPageFolderView');
  const messages = perElement(
    parents,
    (ref) => {
      const parent = resolveFolder(ctx, ref);
      const found: Folder[] = [];
      const visit = (key: string): void => {
        for (const f of ctx.mailbox.folders.values()) {
          if (f.parent !== key || f.key === key) continue;
          found.push(f);
          if (deep) visit(f.key);
        }
      };
      visit(parent);
      const offset = Number(view?.attrs.Offset ?? 0);
      const max = view?.attrs.MaxEntriesReturned ? Number(view.attrs.MaxEntriesReturned) : found.length;
      const page = found.slice(offset, offset + max);
      const includesLast = offset + page.length >= found.length;
      const root = wrap('t:Folders', page.map((f) => folderXml(ctx, f, base, additional)).join(''));
      return responseMessage('FindFolder', wrap('m:RootFolder', root, {
        IndexedPagingOffset: view ? offset + page.length : undefined, TotalItemsInView: found.length, IncludesLastItemInRange: String(includesLast),
      }));
    },
    (err) => responseMessage('FindFolder', '', { code: err.code, text: err.message }),
  );
  return operationResponse('FindFolder', messages);
}

const CLASS_OF_ELEMENT: Record<string, string> = { CalendarFolder: 'IPF.Appointment', TasksFolder: 'IPF.Task', ContactsFolder: 'IPF.Contact', Folder: 'IPF.Note' };

export function createFolder(ctx: EwsContext): string {
  const parentRef = childNamed(ctx.body, 'ParentFolderId')?.children[0];
  const folders = childNamed(ctx.body, 'Folders')?.children ?? [];
  if (!parentRef) throw new EwsResponseError('ErrorInvalidRequest', 'ParentFolderId is required.');
  const messages = perElement(
    folders,
    (f) => {
      const parent = resolveFolder(ctx, parentRef);
      const name = childNamed(f, 'DisplayName')?.text.trim() ?? '';
      if (!name) throw new EwsResponseError('ErrorInvalidRequest', 'A folder needs a DisplayName.');
      for (const existing of ctx.mailbox.folders.values()) {
        if (existing.parent === parent && existing.displayName.toLowerCase() === name.toLowerCase()) {
          throw new EwsResponseError('ErrorFolderExists', 'A folder with the specified name already exists.');
        }
      }
      const folderClass = childNamed(f, 'FolderClass')?.text.trim() || CLASS_OF_ELEMENT[f.local] || 'IPF.Note';
      const created = ctx.store.createFolder(ctx.mailbox, parent, name, folderClass);
      // Exchange answers with the element type the client sent (clients check it).
      const idXml = el('t:FolderId', null, { Id: folderIdOf(ctx.mailbox.index, created.key), ChangeKey: folderChangeKeyOf(ctx.mailbox.index) });
      return responseMessage('CreateFolder', wrap('m:Folders', wrap(`t:${f.local}`, idXml)));
    },
    (err) => responseMessage('CreateFolder', '<m:Folders/>', { code: err.code, text: err.message }),
  );
  return operationResponse('CreateFolder', messages);
}



export function deleteFolder(ctx: EwsContext): string {
  const deleteType = ctx.body.attrs.DeleteType;
  if (!['HardDelete', 'SoftDelete', 'MoveToDeletedItems'].includes(deleteType ?? '')) throw new EwsResponseError('ErrorInvalidRequest', 'DeleteType must be HardDelete, SoftDelete or MoveToDeletedItems.');
  const ids = childNamed(ctx.body, 'FolderIds')?.children ?? [];
  const messages = perElement(
    ids,
    (ref) => {
      const key = resolveFolder(ctx, ref);
      if (ctx.mailbox.folders.get(key)?.distinguished) throw new EwsResponseError('ErrorDeleteDistinguishedFolder', 'Distinguished folders cannot be deleted.');
      ctx.store.deleteFolder(ctx.mailbox, key);
      return responseMessage('DeleteFolder', '');
    },
    (err) => responseMessage('DeleteFolder', '', { code: err.code, text: err.message }),
  );
  return operationResponse('DeleteFolder', messages);
}

/** UpdateFolder: SetFolderField of folder:DisplayName (the one property the sync changes). */
export function updateFolder(ctx: EwsContext): string {
  const changes = childNamed(ctx.body, 'FolderChanges')?.children ?? [];
  const messages = perElement(
    changes,
    (change) => {
      const ref = change.children.find((c) => c.local === 'FolderId' || c.local === 'DistinguishedFolderId');
      if (!ref) throw new EwsResponseError('ErrorInvalidRequest', 'A FolderChange names its folder.');
      const key = resolveFolder(ctx, ref);
      const folder = ctx.mailbox.folders.get(key)!;
      for (const update of childNamed(change, 'Updates')?.children ?? []) {
        const uri = childNamed(update, 'FieldURI')?.attrs.FieldURI;
        if (uri !== 'folder:DisplayName') throw new EwsResponseError('ErrorInvalidPropertySet', `The sandbox updates folder:DisplayName only, not ${uri ?? update.local}.`);
        if (update.local !== 'SetFolderField') throw new EwsResponseError('ErrorInvalidPropertyDelete', 'A folder keeps its DisplayName.');
        const element = update.children.find((c) => c.local !== 'FieldURI');
        const name = element ? childNamed(element, 'DisplayName')?.text.trim() ?? '' : '';
        if (!name) throw new EwsResponseError('ErrorInvalidRequest', 'A folder needs a DisplayName.');
        for (const other of ctx.mailbox.folders.values()) {
          if (other.key !== key && other.parent === folder.parent && other.displayName.toLowerCase() === name.toLowerCase()) throw new EwsResponseError('ErrorFolderExists', 'A folder with the specified name already exists.');
        }
        ctx.store.renameFolder(ctx.mailbox, key, name);
      }
      const idXml = el('t:FolderId', null, { Id: folderIdOf(ctx.mailbox.index, key), ChangeKey: folderChangeKeyOf(ctx.mailbox.index) });
      return responseMessage('UpdateFolder', wrap('m:Folders', wrap(folderElement(folder), idXml)));
    },
    (err) => responseMessage('UpdateFolder', '<m:Folders/>', { code: err.code, text: err.message }),
  );
  return operationResponse('UpdateFolder', messages);
}
