import { SqlCrm } from '../crm-adapter/sql-crm.js';
import type { ExchangePort } from '../ews/exchange-port.js';
import type { Logger } from '../shared/logger.js';
import { assertIdentifier, type Database } from '../state/database.js';
import { ItemMappingStore } from './item-mapping.js';

export interface UnconfirmedItemsOptions {
  db: Database;
  crmSchema: string;
  stateSchema: string;
  exchange: Pick<ExchangePort, 'getItems'>;
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

  /** One round; returns how many rows were deleted. */
  async checkOnce(): Promise<number> {
    const s = assertIdentifier(this.options.stateSchema);
    const { rows } = await this.options.db.query<{ mailbox: string; item_id: string; folder: string }>(
      `select m.mailbox, m.item_id, case when a.type = 2 then 'tasks' else 'calendar' end as folder
         from ${s}.item_map m join ${assertIdentifier(this.options.crmSchema)}.appointment a on a.appointment_id = m.crm_id
        where not m.deleted and m.log_partition = -1 and position('@' in m.item_id) = 0 and m.updated < now() - make_interval(secs => $1)
        order by m.mailbox limit 1000`,
      [this.options.minAgeMs / 1000],
    );
    const groups = new Map<string, string[]>();
    for (const r of rows) {
      const key = `${r.mailbox}\n${r.folder}`;
      groups.set(key, [...(groups.get(key) ?? []), r.item_id]);
    }
    let deleted = 0;
    for (const [key, ids] of groups) {
      const [mailbox, folder] = key.split('\n') as [string, 'calendar' | 'tasks'];
      for (let i = 0; i < ids.length; i += 100) {
        const fetched = await this.options.exchange.getItems(mailbox, folder, ids.slice(i, i + 100));
        for (const gone of fetched.filter((f) => f.missing)) deleted += await this.deleteRow(mailbox, gone.itemId);
      }
    }
    if (deleted) this.options.logger.info({ event: 'unconfirmed.deleted', rows: deleted }, 'items deleted in Exchange before a sync saw them: their CRM rows deleted');
    return deleted;
  }

  private deleteRow(mailbox: string, itemId: string): Promise<number> {
    return this.options.db.transaction(async (tx) => {
      const mappings = new ItemMappingStore(tx, this.options.stateSchema);
      const mapping = await mappings.get(mailbox, itemId, true);
      // seen since (an envelope confirmed it) or gone already: the normal path has it
      if (!mapping || mapping.deleted || mapping.logPartition !== -1) return 0;
      await new SqlCrm(tx, this.options.crmSchema).delete(mapping.crmId);
      await mappings.save({ ...mapping, deleted: true, deletedBy: 'exchange' });
      await mappings.tombstoneExceptions(mailbox, itemId);
      return 1;
    });
  }
}
