import type { EwsContext } from './ews-context.js';
import { getEvents } from './operations/get-events.js';
import { getItem } from './operations/get-item.js';
import { createItem } from './operations/create-item.js';
import { deleteItem } from './operations/delete-item.js';
import { findItem } from './operations/find-item.js';
import { createFolder, deleteFolder, findFolder, getFolder, updateFolder } from './operations/folders.js';
import { getStreamingEvents } from './operations/get-streaming-events.js';
import { subscribe, unsubscribe } from './operations/subscribe.js';
import { syncFolderItems } from './operations/sync-folder-items.js';
import { updateItem } from './operations/update-item.js';

/** Operation name (the element inside soap:Body) → handler; undefined result: it answered itself. */
export const OPERATIONS: Record<string, (ctx: EwsContext) => string | undefined> = {
  GetFolder: getFolder,
  FindFolder: findFolder,
  CreateFolder: createFolder,
  DeleteFolder: deleteFolder,
  UpdateFolder: updateFolder,
  FindItem: findItem,
  GetItem: getItem,
  CreateItem: createItem,
  UpdateItem: updateItem,
  DeleteItem: deleteItem,
  SyncFolderItems: syncFolderItems,
  Subscribe: subscribe,
  GetEvents: getEvents,
  GetStreamingEvents: getStreamingEvents,
  Unsubscribe: unsubscribe,
};
