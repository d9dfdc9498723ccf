import { assertIdentifier, type Database } from '../state/database.js';

/** Who deleted the item a tombstone stands for. */
export type DeletedBy = 'exchange' | 'crm' | 'private';

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
  readonly deletedBy?: DeletedBy;
  /** Earlier ChangeKeys of the item (applied, written or overruled): an envelope carrying one is stale. */
  readonly knownKeys?: readonly string[];
  /**
   * LastModifiedTime (ms) of the newest Exchange version the CRM won over in a conflict:
   * envelopes of versions not newer than that are stale.
   */
  readonly overruledUpTo?: number;
  /** The meeting's iCalUid, to join the rows of one meeting in several mailboxes (mother_id). */
  readonly iCalUid?: string;
}

/** The mapping key of a series' occurrence: no EWS ItemId contains "@". */
export const exceptionKey = (masterItemId: string, originalStart: string): string => `${masterItemId}@${originalStart}`;

/** How many earlier ChangeKeys a mapping remembers. */
const KNOWN_KEYS = 8;

interface MappingRow {
  mailbox: string;
  item_id: string;
  crm_id: number;
  change_key: string;
  crm_version: number;
  log_partition: number;
  log_offset: string;
  deleted: boolean;
  deleted_by: DeletedBy | null;
  known_keys: string[] | null;
  overruled_up_to: Date | null;
  ical_uid: string | null;
}

const mappingOf = (r: MappingRow): ItemMapping => ({
  mailbox: r.mailbox, itemId: r.item_id, crmId: r.crm_id, changeKey: r.change_key, crmVersion: r.crm_version, logPartition: r.log_partition,
  logOffset: Number(r.log_offset), deleted: r.deleted, deletedBy: r.deleted_by ?? undefined, knownKeys: r.known_keys ?? [],
  overruledUpTo: r.overruled_up_to ? new Date(r.overruled_up_to).getTime() : undefined, iCalUid: r.ical_uid ?? undefined,
});

/** The mapping's known keys with `keys` added (newest last, bounded). */
export function withKnownKeys(m: ItemMapping, ...keys: Array<string | undefined>): string[] {
  const all = [...(m.knownKeys ?? []), m.changeKey, ...keys].filter((k): k is string => !!k);
  return [...new Set(all.reverse())].reverse().slice(-KNOWN_KEYS);
}

/** EWS item ↔ CRM row, in the sync's state schema (never in the CRM's tables). */
export class ItemMappingStore {
  private readonly table: string;
  private readonly intents: string;

  constructor(private readonly db: Database, schema: string) {
    this.table = `${assertIdentifier(schema)}.item_map`;
    this.intents = `${assertIdentifier(schema)}.create_intent`;
  }

  static async migrate(db: Database, schema: string): Promise<void> {
    const s = assertIdentifier(schema);
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.item_map (mailbox text not null, item_id text not null, crm_id int not null, change_key text not null, crm_version int not null, updated timestamptz not null default now(), primary key (mailbox, item_id))`);
    await db.query(`create index if not exists item_map_crm on ${s}.item_map (crm_id)`);
    await db.query(`alter table ${s}.item_map add column if not exists log_partition int not null default -1, add column if not exists log_offset bigint not null default -1, add column if not exists deleted boolean not null default false`);
    await db.query(`alter table ${s}.item_map add column if not exists deleted_by text, add column if not exists known_keys text[], add column if not exists overruled_up_to timestamptz, add column if not exists ical_uid text`);
    await db.query(`create table if not exists ${s}.create_intent (crm_id int primary key, mailbox text not null, started timestamptz not null default now())`);
    await db.query(`create index if not exists item_map_ical_uid on ${s}.item_map (ical_uid) where ical_uid is not null and not deleted`);
  }

  /** `lock`: hold the mapping's row until the transaction ends (the handlers of both directions may touch one item). */
  async get(mailbox: string, itemId: string, lock = false): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where mailbox = $1 and item_id = $2${lock ? ' for update' : ''}`, [mailbox, itemId]);
    return rows[0] ? mappingOf(rows[0]) : undefined;
  }

  /** The live (not deleted) mapping of a CRM row, or else its newest tombstone. */
  async getByCrmId(crmId: number, lock = false): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where crm_id = $1 order by deleted, updated desc limit 1${lock ? ' for update' : ''}`, [crmId]);
    return rows[0] ? mappingOf(rows[0]) : undefined;
  }

  /**
   * Notes, committed before the item is created, that the CRM row is being created in a
   * mailbox. False when a note was there already: an earlier attempt may have created the
   * item and stopped before its mapping was saved.
   */
  async beginCreate(crmId: number, mailbox: string): Promise<boolean> {
    const r = await this.db.query(`insert into ${this.intents} (crm_id, mailbox) values ($1, $2) on conflict (crm_id) do nothing`, [crmId, mailbox]);
    return r.rowCount > 0;
  }

  async endCreate(crmId: number): Promise<void> {
    await this.db.query(`delete from ${this.intents} where crm_id = $1`, [crmId]);
  }

  /** Holds a lock on a meeting's iCalUid until the transaction ends. */
  async lockMeeting(iCalUid: string): Promise<void> {
    await this.db.query(`select pg_advisory_xact_lock(hashtext('ecs.meeting:' || $1))`, [iCalUid]);
  }

  /** Live mappings of a meeting (same iCalUid) in other mailboxes. */
  async meetingRows(iCalUid: string, exceptMailbox: string): Promise<ItemMapping[]> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where ical_uid = $1 and mailbox <> $2 and not deleted order by crm_id`, [iCalUid, exceptMailbox]);
    return rows.map(mappingOf);
  }

  async save(m: ItemMapping): Promise<void> {
    await this.db.query(
      `insert into ${this.table} (mailbox, item_id, crm_id, change_key, crm_version, log_partition, log_offset, deleted, deleted_by, known_keys, overruled_up_to, ical_uid, updated)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, clock_timestamp())
       on conflict (mailbox, item_id) do update set crm_id = excluded.crm_id, change_key = excluded.change_key, crm_version = excluded.crm_version,
         log_partition = excluded.log_partition, log_offset = excluded.log_offset, deleted = excluded.deleted, deleted_by = excluded.deleted_by,
         known_keys = excluded.known_keys, overruled_up_to = excluded.overruled_up_to, ical_uid = excluded.ical_uid, updated = clock_timestamp()`,
      [m.mailbox, m.itemId, m.crmId, m.changeKey, m.crmVersion, m.logPartition, m.logOffset, m.deleted, m.deleted ? (m.deletedBy ?? null) : null,
        [...(m.knownKeys ?? [])], m.overruledUpTo !== undefined ? new Date(m.overruledUpTo) : null, m.iCalUid ?? null],
    );
  }

  /** Tombstones the mappings of a series' exception rows (the series is gone). */
  async tombstoneExceptions(mailbox: string, masterItemId: string): Promise<void> {
    await this.db.query(`update ${this.table} set deleted = true, deleted_by = 'exchange', updated = clock_timestamp() where mailbox = $1 and starts_with(item_id, $2) and not deleted`, [mailbox, `${masterItemId}@`]);
  }

  /** Records the CRM row's new version after a write of the sync's own that the item does not see (e.g. mother_id). */
  async setCrmVersion(crmId: number, version: number): Promise<void> {
    await this.db.query(`update ${this.table} set crm_version = $2, updated = clock_timestamp() where crm_id = $1 and not deleted`, [crmId, version]);
  }
}
