import type { ExchangePort, FolderKind } from '../ews/exchange-port.js';
import { ewsChangeReader } from '../ews/ews-change-reader.js';
import { SourceBase, type SourceOptions } from './source-base.js';

export interface EwsSourceOptions extends Omit<SourceOptions, 'changes'> {
  exchange: ExchangePort;
}

/** Where a mailbox's EWS folder ids are kept (only EWS keeps them). */
export const folderIdsKey = (mailbox: string): string => `folders:${mailbox}`;

/**
 * EWS's change channels (streaming and pull subscriptions): notifications name a folder by
 * its id, SyncFolderItems reads what changed.
 */
export abstract class EwsSourceBase extends SourceBase {
  protected readonly exchange: ExchangePort;
  private readonly folderIdCache = new Map<string, Record<string, FolderKind>>();

  constructor(options: EwsSourceOptions) {
    super({ ...options, changes: ewsChangeReader(options.exchange) });
    this.exchange = options.exchange;
  }

  /** Folder ids of a mailbox (to tell which folder an event is about), cached and kept. */
  protected async folderIds(mailbox: string): Promise<Record<string, FolderKind>> {
    const cached = this.folderIdCache.get(mailbox);
    if (cached) return cached;
    const key = folderIdsKey(mailbox);
    const saved = await this.options.positions.get(key);
    let ids: Record<string, FolderKind>;
    if (saved) ids = JSON.parse(saved) as Record<string, FolderKind>;
    else {
      ids = await this.limiter.run(() => this.exchange.folderIds(mailbox, this.options.folders));
      await this.options.positions.save(key, JSON.stringify(ids));
    }
    this.folderIdCache.set(mailbox, ids);
    return ids;
  }
}
