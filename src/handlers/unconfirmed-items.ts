import type { CrmPort } from '../crm-adapter/crm-port.js';
import type { FolderKind, MailboxStore } from '../exchange/index.js';
import type { Logger } from '../shared/logger.js';
import type { ItemMappingStore } from './item-mapping.js';

export interface UnconfirmedItemsOptions {
  crm: Pick<CrmPort, 'get' | 'delete'>;
  mappings: ItemMappingStore;
  exchange: Pick<MailboxStore, 'getItems'>;
  logger: Logger;
  /** Items the sync created this long ago and never saw come back are checked. */
  minAgeMs: number;
  intervalMs: number;
}

/**
 * Items the sync created from the CRM are known to Exchange's change tracking only once a
 * SyncFolderItems has listed them. One created and deleted by a user between two syncs —
 * or while the service was down — is never reported as deleted, and its CRM row would stay.
 * So created items not yet seen coming back (their mapping has no log position) are looked
 * up after a while, and a missing one is deleted in the CRM as an Exchange delete would be.
 */
export class UnconfirmedItems {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: UnconfirmedItemsOptions) {}

  start(): void {
    const tick = (): void => {
      this.running = this.checkOnce().catch((err: unknown) => this.options.logger.warn({ err, event: 'unconfirmed.check-failed' }, 'checking items not yet seen in Exchange failed; next round'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.options.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round; returns how many CRM records were deleted. */
  async checkOnce(): Promise<number> {
    const groups = new Map<string, string[]>();
    for (const m of await this.options.mappings.unconfirmed(this.options.minAgeMs, 1_000)) {
      // mappings saved before the folder was recorded: the record says what it is
      const folder: FolderKind | undefined = m.folder ?? (await this.kindOf(m.crmId));
      if (!folder) continue;
      const key = `${m.mailbox}\n${folder}`;
      groups.set(key, [...(groups.get(key) ?? []), m.itemId]);
    }
    let deleted = 0;
    for (const [key, ids] of groups) {
      const [mailbox, folder] = key.split('\n') as [string, FolderKind];
      for (let i = 0; i < ids.length; i += 100) {
        const fetched = await this.options.exchange.getItems(mailbox, folder, ids.slice(i, i + 100));
        for (const gone of fetched.filter((f) => f.missing)) deleted += await this.deleteRecord(mailbox, gone.itemId);
      }
    }
    if (deleted) this.options.logger.info({ event: 'unconfirmed.deleted', records: deleted }, 'items deleted in Exchange before a sync saw them: their CRM records deleted');
    return deleted;
  }

  private async kindOf(crmId: string): Promise<FolderKind | undefined> {
    const record = await this.options.crm.get(crmId);
    return record ? (record.kind === 'task' ? 'tasks' : 'calendar') : undefined;
  }

  private deleteRecord(mailbox: string, itemId: string): Promise<number> {
    const { mappings } = this.options;
    return mappings.holding(mailbox, itemId, async (mapping, lease) => {
      // seen since (an envelope confirmed it) or gone already: the normal path has it
      if (!mapping || mapping.deleted || mapping.logPartition !== -1) return 0;
      await this.options.crm.delete(mapping.crmId);
      await mappings.save({ ...mapping, deleted: true, deletedBy: 'exchange' }, lease);
      await mappings.tombstoneExceptions(mailbox, itemId);
      return 1;
    });
  }
}
