import { resolve } from 'node:path';
import type { SyncConfig } from '../config/index.js';
import { lockFolder, type HeldFolder } from '../shared/folder-lock.js';
import type { Logger } from '../shared/logger.js';

/** The built-in sandbox stands in for Exchange when the protocol <advise> asks for has no address. */
export const usesBuiltInSandbox = (config: SyncConfig): boolean =>
  (config.exchange.mode.startsWith('Graph') ? config.exchange.graph.url : config.exchange.ews.url) === null;

/** The embedded data folders this configuration writes: the log, the CRM, the state, the built-in sandbox's mailboxes. */
export function embeddedFolders(config: SyncConfig): string[] {
  const folders = [
    config.crm.type === 'embedded' ? config.crm.path : undefined,
    config.state.type === 'embedded' && !config.state.shared ? config.state.path : undefined,
    config.transport.type === 'embedded' ? config.transport.path : undefined,
    usesBuiltInSandbox(config) ? config.sandbox.path : undefined,
  ];
  return [...new Set(folders.filter((f): f is string => typeof f === 'string' && f !== '').map((f) => resolve(f)))];
}

/**
 * Takes every embedded data folder for this process, or throws FolderLocked naming the folder
 * and the process holding it (what it took is given back first). Two instances on one folder
 * would both claim every partition and read the CRM's change log twice, and a second built-in
 * sandbox would make the first's mappings look deleted.
 */
export function lockDataFolders(config: SyncConfig, logger: Logger): HeldFolder[] {
  const held: HeldFolder[] = [];
  try {
    for (const folder of embeddedFolders(config)) {
      const lock = lockFolder(folder);
      held.push(lock);
      if (lock.tookOverFrom !== undefined) {
        logger.warn({ event: 'data-folder.taken-over', folder, previousPid: lock.tookOverFrom }, `the data folder ${folder} was locked by process ${lock.tookOverFrom}, which is gone (a crash or kill): taken over`);
      }
    }
  } catch (err) {
    for (const h of held) h.release();
    throw err;
  }
  return held;
}
