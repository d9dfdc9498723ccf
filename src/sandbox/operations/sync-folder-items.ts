import { childNamed } from '../../shared/safe-xml.js';
import { EwsFault, EwsResponseError, resolveFolder, type EwsContext } from '../ews-context.js';
import { itemIdOf, parseSyncState, syncStateOf } from '../ids.js';
import { writeItem } from '../item-xml.js';
import { readShape } from '../item-shape.js';
import { operationResponse, responseMessage } from '../soap.js';
import { el } from '../xml-writer.js';

/**
 * SyncFolderItems: every change after the SyncState, oldest first, at most
 * MaxChangesReturned (1–512); an item changed several times appears once.
 */
export function syncFolderItems(ctx: EwsContext): string {
  const shape = readShape(childNamed(ctx.body, 'ItemShape'));
  const folderRef = childNamed(ctx.body, 'SyncFolderId')?.children[0];
  const stateText = childNamed(ctx.body, 'SyncState')?.text.trim() ?? '';
  const maxText = childNamed(ctx.body, 'MaxChangesReturned')?.text.trim() ?? '';
  const max = Number(maxText);
  if (!Number.isInteger(max) || max < 1 || max > 512) {
    throw new EwsFault('ErrorSchemaValidation', `The request failed schema validation: MaxChangesReturned "${maxText}" must be 1 to 512.`);
  }
  const ignore = new Set((childNamed(ctx.body, 'Ignore')?.children ?? []).map((i) => i.attrs.Id));
  let message: string;
  try {
    if (!folderRef) throw new EwsResponseError('ErrorInvalidRequest', 'SyncFolderId is required.');
    const folder = resolveFolder(ctx, folderRef);
    let after = 0;
    if (!stateText) ctx.stats.fullSyncs++;
    if (stateText) {
      const state = parseSyncState(stateText);
      if (!state || state.epoch !== ctx.epoch || state.mailbox !== ctx.mailbox.index || state.folder !== folder || state.changeNumber > ctx.mailbox.changeNumber) {
        throw new EwsResponseError('ErrorInvalidSyncStateData', 'Synchronization state data is corrupt or otherwise invalid.');
      }
      after = state.changeNumber;
    }
    const all = ctx.store.changesSince(ctx.mailbox, folder, after);
    const page = all.slice(0, max);
    const last = page.length ? page[page.length - 1].changeNumber : after;
    let changes = '';
    for (const change of page) {
      if (change.deletedId) {
        changes += `<t:Delete>${el('t:ItemId', null, { Id: change.deletedId })}</t:Delete>`;
        continue;
      }
      const item = change.item!;
      if (!ignore.has(itemIdOf(item.mailbox, item.seq))) {
        const kind = item.createdChangeNumber > after ? 'Create' : 'Update';
        changes += `<t:${kind}>${writeItem(ctx.mailbox, item, shape)}</t:${kind}>`;
      }
    }
    message = responseMessage(
      'SyncFolderItems',
      el('m:SyncState', syncStateOf(ctx.mailbox.index, folder, last, ctx.epoch)) + el('m:IncludesLastItemInRange', String(page.length === all.length)) +
        (changes ? `<m:Changes>${changes}</m:Changes>` : '<m:Changes/>'),
    );
  } catch (err) {
    if (!(err instanceof EwsResponseError)) throw err;
    message = responseMessage('SyncFolderItems', '<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>', { code: err.code, text: err.message });
  }
  return operationResponse('SyncFolderItems', message);
}
