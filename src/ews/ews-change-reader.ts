import type { FolderChangeReader } from '../exchange/index.js';
import type { ExchangePort } from './exchange-port.js';

/** EWS's change reader: SyncFolderItems from a SyncState (ErrorInvalidSyncStateData is 'position-invalid'). */
export function ewsChangeReader(exchange: Pick<ExchangePort, 'syncFolderItems'>): FolderChangeReader {
  return {
    positionKind: 'ews-syncstate',
    operation: 'SyncFolderItems',
    async readChanges(mailbox, folder, position, maxChanges) {
      const page = await exchange.syncFolderItems(mailbox, folder, position, maxChanges);
      return { position: page.syncState, complete: page.includesLastItemInRange, changes: page.changes };
    },
  };
}
