import { assertIdentifier, type Database } from '../state/database.js';

export interface ItemMapping {
  readonly mailbox: string;
  readonly itemId: string;
  readonly crmId: number;
  /** The EWS ChangeKey last applied (or written). */
  readonly changeKey: string;
  /** The CRM row's updated_count after the last write. */
  readonly crmVersion: number;
  /** Where in the log the last applied change of this item was (partition and offset). */
  readonly logPartition: number;
  readonly logOffset: number;
  /** A deleted item's mapping is kept as a tombstone, so a replay of older changes cannot bring it back. */
  readonly deleted: boolean;
}

/** EWS item ↔ CRM row, in the sync's state schema (never in the CRM's tables). */
export class ItemMappingStore {
  private readonly table: string;

  constructor(private readonly db: Database, schema: string) {
    this.table = `${assertIdentifier(schema)}.item_map`;
  }

  static async migrate(db: Database, schema: string): Promise<void> {
    const s = assertIdentifier(schema);
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.item_map (mailbox text not null, item_id text not null, crm_id int not null, change_key text not null, crm_version int not null, updated timestamptz not null default now(), primary key (mailbox, item_id))`);
    await db.query(`create index if not exists item_map_crm on ${s}.item_map (crm_id)`);
    await db.query(`alter table ${s}.item_map add column if not exists log_partition int not null default -1, add column if not exists log_offset bigint not null default -1, add column if not exists deleted boolean not null default false`);
  }

  async get(mailbox: string, itemId: string): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<{ crm_id: number; change_key: string; crm_version: number; log_partition: number; log_offset: string; deleted: boolean }>(
      `select crm_id, change_key, crm_version, log_partition, log_offset, deleted from ${this.table} where mailbox = $1 and item_id = $2`, [mailbox, itemId],
    );
    const r = rows[0];
    return r ? { mailbox, itemId, crmId: r.crm_id, changeKey: r.change_key, crmVersion: r.crm_version, logPartition: r.log_partition, logOffset: Number(r.log_offset), deleted: r.deleted } : undefined;
  }

  /** The live (not deleted) mapping of a CRM row. */
  async getByCrmId(crmId: number): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<{ mailbox: string; item_id: string }>(`select mailbox, item_id from ${this.table} where crm_id = $1 and not deleted limit 1`, [crmId]);
    return rows[0] ? this.get(rows[0].mailbox, rows[0].item_id) : undefined;
  }

  async save(m: ItemMapping): Promise<void> {
    await this.db.query(
      `insert into ${this.table} (mailbox, item_id, crm_id, change_key, crm_version, log_partition, log_offset, deleted, updated) values ($1, $2, $3, $4, $5, $6, $7, $8, now())
       on conflict (mailbox, item_id) do update set crm_id = excluded.crm_id, change_key = excluded.change_key, crm_version = excluded.crm_version,
         log_partition = excluded.log_partition, log_offset = excluded.log_offset, deleted = excluded.deleted, updated = now()`,
      [m.mailbox, m.itemId, m.crmId, m.changeKey, m.crmVersion, m.logPartition, m.logOffset, m.deleted],
    );
  }


}
