import { randomUUID } from 'node:crypto';
import type { CrmEntity, CrmRef, MappedRecords } from '../crm-adapter/crm-port.js';
import type { FolderKind } from '../exchange/index.js';
import { SyncError } from '../shared/errors.js';
import { assertIdentifier, type Database } from '../state/database.js';

/** Who deleted the item a tombstone stands for. */
export type DeletedBy = 'exchange' | 'crm' | 'private' | 'category';

export interface ItemMapping {
  readonly mailbox: string;
  readonly itemId: string;
  /** The CRM record ("appointment:42"). */
  readonly crmId: CrmRef;
  /** The EWS ChangeKey last applied (or written). */
  readonly changeKey: string;
  /** The CRM record's version token after the last write. */
  readonly crmVersion: string;
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
  /** The meeting's iCalUid, to join the records of one meeting in several mailboxes (mother). */
  readonly iCalUid?: string;
  /** The item's folder (calendar or tasks). */
  readonly folder?: FolderKind;
  /** The record is a private item's blocker (private="busy"): the CRM's edits of it are not written back. */
  readonly blocker?: boolean;
  /**
   * The policy the record was last written from the item under (the fields kept from the CRM,
   * the category ↔ type pairs): when it changes, the item's next read writes the record again.
   */
  readonly shape?: string;
  /**
   * The policy the item was last written from the record under (the fields kept from
   * Exchange's side, the category ↔ type pairs; exchange-shape.ts): when a field is let through
   * towards Exchange again, or the pairs change, the record is written to the item again.
   */
  readonly exchangeShape?: string;
}

/** The mapping key of a series' occurrence: no EWS ItemId contains "@". */
export const exceptionKey = (masterItemId: string, originalStart: string): string => `${masterItemId}@${originalStart}`;

/** How many earlier ChangeKeys a mapping remembers. */
const KNOWN_KEYS = 8;
/** A handler holds an item this long, renewed while it works; a crashed holder's lease runs out. */
const LEASE_MS = 20_000;
const RENEW_MS = 5_000;

interface MappingRow {
  mailbox: string;
  item_id: string;
  crm_id: string;
  change_key: string;
  crm_version: string;
  log_partition: number;
  log_offset: string;
  deleted: boolean;
  deleted_by: DeletedBy | null;
  known_keys: string[] | null;
  overruled_up_to: Date | null;
  ical_uid: string | null;
  folder: FolderKind | null;
  blocker: boolean | null;
  shape: string | null;
  exchange_shape: string | null;
}

const mappingOf = (r: MappingRow): ItemMapping => ({
  mailbox: r.mailbox, itemId: r.item_id, crmId: r.crm_id, changeKey: r.change_key, crmVersion: r.crm_version, logPartition: r.log_partition,
  logOffset: Number(r.log_offset), deleted: r.deleted, deletedBy: r.deleted_by ?? undefined, knownKeys: r.known_keys ?? [],
  overruledUpTo: r.overruled_up_to ? new Date(r.overruled_up_to).getTime() : undefined, iCalUid: r.ical_uid ?? undefined, folder: r.folder ?? undefined,
  ...(r.blocker ? { blocker: true } : {}),
  ...(r.shape ? { shape: r.shape } : {}),
  ...(r.exchange_shape !== null && r.exchange_shape !== undefined ? { exchangeShape: r.exchange_shape } : {}),
});

/** The mapping's known keys with `keys` added (newest last, bounded). */
export function withKnownKeys(m: ItemMapping, ...keys: Array<string | undefined>): string[] {
  const all = [...(m.knownKeys ?? []), m.changeKey, ...keys].filter((k): k is string => !!k);
  return [...new Set(all.reverse())].reverse().slice(-KNOWN_KEYS);
}

/** The other direction is writing this item right now: try again shortly. */
export class ItemBusyError extends SyncError {
  constructor(mailbox: string, itemId: string) {
    super('ITEM_BUSY', `the item ${itemId} of ${mailbox} is being written by the other direction`, { retriable: true, context: { mailbox } });
  }
}

/** One handling's hold on an item (see ItemMappingStore.holding). */
export interface ItemLease {
  readonly token: string;
}

/**
 * EWS item ↔ CRM record, in the sync's state schema (never in the CRM). The CRM is written
 * outside any transaction of ours (a REST CRM has none to share), so the two directions are
 * kept apart on one item by a lease on its mapping row — a row, not a held connection: a
 * handler waiting on Exchange or the CRM holds no database connection.
 */
export class ItemMappingStore implements MappedRecords {
  private readonly table: string;
  private readonly notes: string;

  constructor(private readonly db: Database, schema: string) {
    this.table = `${assertIdentifier(schema)}.item_map`;
    this.notes = `${assertIdentifier(schema)}.create_note`;
  }

  static async migrate(db: Database, schema: string): Promise<void> {
    const s = assertIdentifier(schema);
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.item_map (mailbox text not null, item_id text not null, crm_id text not null, change_key text not null, crm_version text not null, updated timestamptz not null default now(), primary key (mailbox, item_id))`);
    await db.query(`alter table ${s}.item_map add column if not exists log_partition int not null default -1, add column if not exists log_offset bigint not null default -1, add column if not exists deleted boolean not null default false`);
    await db.query(`alter table ${s}.item_map add column if not exists deleted_by text, add column if not exists known_keys text[], add column if not exists overruled_up_to timestamptz, add column if not exists ical_uid text`);
    // before typed CRM ids, crm_id and crm_version were integers of the reference CRM's appointments
    await db.query(`do $$ begin
      if (select data_type from information_schema.columns where table_schema = '${s}' and table_name = 'item_map' and column_name = 'crm_id') = 'integer' then
        alter table ${s}.item_map alter column crm_id type text using 'appointment:' || crm_id, alter column crm_version type text using crm_version::text;
      end if;
    end $$`);
    await db.query(`alter table ${s}.item_map add column if not exists folder text, add column if not exists created timestamptz not null default now(),
      add column if not exists lease_owner text, add column if not exists lease_until timestamptz`);
    await db.query(`alter table ${s}.item_map add column if not exists blocker boolean not null default false`);
    await db.query(`alter table ${s}.item_map add column if not exists shape text`);
    await db.query(`alter table ${s}.item_map add column if not exists exchange_shape text`);
    await db.query(`create index if not exists item_map_crm on ${s}.item_map (crm_id)`);
    await db.query(`create index if not exists item_map_ical_uid on ${s}.item_map (ical_uid) where ical_uid is not null and not deleted`);
    await db.query(`create table if not exists ${s}.create_note (side text not null, key text not null, mailbox text not null, started timestamptz not null default now(), primary key (side, key))`);
    await db.query(`do $$ begin
      if exists (select 1 from information_schema.tables where table_schema = '${s}' and table_name = 'create_intent') then
        insert into ${s}.create_note (side, key, mailbox, started) select 'exchange', 'appointment:' || crm_id, mailbox, started from ${s}.create_intent on conflict do nothing;
        drop table ${s}.create_intent;
      end if;
    end $$`);
  }

  /** The items of a mailbox folder with a live mapping made before `before` (ms); exception keys left out. */
  async itemsIn(mailbox: string, folder: FolderKind, before: number): Promise<string[]> {
    const { rows } = await this.db.query<{ item_id: string }>(
      `select item_id from ${this.table} where mailbox = $1 and coalesce(folder, 'calendar') = $2 and not deleted and position('@' in item_id) = 0 and created < to_timestamp($3::double precision / 1000)`,
      [mailbox, folder, before]);
    return rows.map((r) => r.item_id);
  }

  /** How many items are mapped (live, exception keys left out): of one mailbox, or of all. */
  async liveCount(mailbox?: string): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      `select count(*) as n from ${this.table} where not deleted and position('@' in item_id) = 0 and ($1::text is null or mailbox = $1)`, [mailbox ?? null]);
    return Number(rows[0].n);
  }

  /** Every live mapping of a mailbox (series' exception keys included). */
  async ofMailbox(mailbox: string): Promise<ItemMapping[]> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where mailbox = $1 and not deleted`, [mailbox]);
    return rows.map(mappingOf);
  }

  /** Of these items of the mailbox, those whose live mapping holds exactly this ChangeKey. */
  async versionsHeld(mailbox: string, items: ReadonlyArray<{ readonly itemId: string; readonly changeKey: string }>): Promise<Set<string>> {
    if (!items.length) return new Set();
    const { rows } = await this.db.query<{ item_id: string; change_key: string }>(
      `select item_id, change_key from ${this.table} where mailbox = $1 and item_id = any($2) and not deleted`, [mailbox, items.map((i) => i.itemId)]);
    const held = new Map(rows.map((r) => [r.item_id, r.change_key]));
    return new Set(items.filter((i) => held.get(i.itemId) === i.changeKey).map((i) => i.itemId));
  }

  /** Every mailbox with a mapping (live or not). */
  async mailboxes(): Promise<string[]> {
    return (await this.db.query<{ mailbox: string }>(`select distinct mailbox from ${this.table} order by mailbox`)).rows.map((r) => r.mailbox);
  }

  /** Every mapping of a mailbox, tombstones and exception keys included. */
  async allOfMailbox(mailbox: string): Promise<ItemMapping[]> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where mailbox = $1`, [mailbox]);
    return rows.map(mappingOf);
  }

  /**
   * The mailbox's items known under other ids (the mailbox reached through another protocol):
   * each mapping of an old id, and of its exceptions ("<id>@<original start>"), takes the new
   * id, in one transaction.
   */
  async renameItems(mailbox: string, renames: ReadonlyMap<string, string>): Promise<void> {
    await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ item_id: string }>(`select item_id from ${this.table} where mailbox = $1`, [mailbox]);
      for (const { item_id: itemId } of rows) {
        const at = itemId.indexOf('@');
        const base = at < 0 ? itemId : itemId.slice(0, at);
        const renamed = renames.get(base);
        if (renamed === undefined || renamed === base) continue;
        await tx.query(`update ${this.table} set item_id = $3 where mailbox = $1 and item_id = $2`, [mailbox, itemId, renamed + itemId.slice(base.length)]);
      }
    });
  }

  async get(mailbox: string, itemId: string): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where mailbox = $1 and item_id = $2`, [mailbox, itemId]);
    return rows[0] ? mappingOf(rows[0]) : undefined;
  }

  /** The live (not deleted) mapping of a CRM record, or else its newest tombstone. */
  async getByCrmId(crmId: CrmRef): Promise<ItemMapping | undefined> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where crm_id = $1 order by deleted, updated desc limit 1`, [crmId]);
    return rows[0] ? mappingOf(rows[0]) : undefined;
  }

  /**
   * Runs `work` holding the item's mapping (undefined when the item has none yet): the other
   * direction waits (ItemBusyError, retried) until it is done. The lease is renewed while
   * `work` runs and given back after; a holder that died loses it after LEASE_MS.
   */
  async holding<T>(mailbox: string, itemId: string, work: (mapping: ItemMapping | undefined, lease: ItemLease) => Promise<T>): Promise<T> {
    const lease: ItemLease = { token: randomUUID() };
    const { rows } = await this.db.query<MappingRow>(
      `update ${this.table} set lease_owner = $3, lease_until = clock_timestamp() + make_interval(secs => $4)
        where mailbox = $1 and item_id = $2 and (lease_owner is null or lease_until < clock_timestamp()) returning *`,
      [mailbox, itemId, lease.token, LEASE_MS / 1000],
    );
    if (!rows[0] && (await this.get(mailbox, itemId))) throw new ItemBusyError(mailbox, itemId);
    const renew = rows[0] ? setInterval(() => void this.renew(mailbox, itemId, lease).catch(() => undefined), RENEW_MS) : undefined;
    try {
      return await work(rows[0] ? mappingOf(rows[0]) : undefined, lease);
    } finally {
      clearInterval(renew);
      if (rows[0]) await this.db.query(`update ${this.table} set lease_owner = null, lease_until = null where mailbox = $1 and item_id = $2 and lease_owner = $3`, [mailbox, itemId, lease.token]).catch(() => undefined);
    }
  }

  /**
   * A mailbox's move takes every row of the mailbox, inside the move's transaction: false when a
   * handler holds one now (the move waits and tries again). Until the transaction ends, handlers
   * wait on the rows; afterwards they find them under their new ids.
   */
  async holdMailbox(mailbox: string): Promise<boolean> {
    const token = `move:${randomUUID()}`;
    await this.db.query(`update ${this.table} set lease_owner = $2, lease_until = clock_timestamp() + make_interval(secs => $3) where mailbox = $1 and (lease_owner is null or lease_until < clock_timestamp())`, [mailbox, token, LEASE_MS / 1000]);
    const { rows } = await this.db.query<{ n: number }>(`select count(*)::int as n from ${this.table} where mailbox = $1 and lease_owner <> $2 and lease_until >= clock_timestamp()`, [mailbox, token]);
    // given back at once either way: the rows stay locked until the transaction ends (a busy
    // answer must not leave them leased, or the handlers and the next try would wait on it)
    await this.db.query(`update ${this.table} set lease_owner = null, lease_until = null where mailbox = $1 and lease_owner = $2`, [mailbox, token]);
    return rows[0].n === 0;
  }

  /** `holding` for the item a CRM record is mapped to (the live mapping, or else the newest tombstone, unheld). */
  async holdingByCrmId<T>(crmId: CrmRef, work: (found: ItemMapping | undefined, lease: ItemLease | undefined) => Promise<T>): Promise<T> {
    const found = await this.getByCrmId(crmId);
    if (!found || found.deleted) return work(found, undefined);
    return this.holding(found.mailbox, found.itemId, (held, lease) => {
      // the row is gone since it was read (renamed by a mailbox's move to Graph, or removed): start over
      if (!held) throw new ItemBusyError(found.mailbox, found.itemId);
      return work(held.crmId === crmId ? held : found, lease);
    });
  }

  private async renew(mailbox: string, itemId: string, lease: ItemLease): Promise<void> {
    await this.db.query(`update ${this.table} set lease_until = clock_timestamp() + make_interval(secs => $4) where mailbox = $1 and item_id = $2 and lease_owner = $3`,
      [mailbox, itemId, lease.token, LEASE_MS / 1000]);
  }

  /**
   * Notes, committed before a record is created on the other side, what is being created:
   * `side` is where the new record goes ('exchange': an item for CRM record `key`; 'crm': a
   * record for the Exchange item stamped `key`). False when a note was there already: an
   * earlier attempt may have created it and stopped before its mapping was saved.
   */
  async beginCreate(side: 'exchange' | 'crm', key: string, mailbox: string): Promise<boolean> {
    const r = await this.db.query(`insert into ${this.notes} (side, key, mailbox) values ($1, $2, $3) on conflict (side, key) do nothing`, [side, key, mailbox]);
    return r.rowCount > 0;
  }

  async endCreate(side: 'exchange' | 'crm', key: string): Promise<void> {
    await this.db.query(`delete from ${this.notes} where side = $1 and key = $2`, [side, key]);
  }

  /** Live mappings of a meeting (same iCalUid), the first mapped first. */
  async meetingRows(iCalUid: string): Promise<ItemMapping[]> {
    const { rows } = await this.db.query<MappingRow>(`select * from ${this.table} where ical_uid = $1 and not deleted and position('@' in item_id) = 0 order by created, crm_id`, [iCalUid]);
    return rows.map(mappingOf);
  }

  /**
   * Saves a mapping. An item another handling holds is not written (ItemBusyError, so the
   * work is done again): pass the lease when this handling holds the item.
   */
  async save(m: ItemMapping, lease?: ItemLease): Promise<void> {
    const r = await this.db.query(
      `insert into ${this.table} (mailbox, item_id, crm_id, change_key, crm_version, log_partition, log_offset, deleted, deleted_by, known_keys, overruled_up_to, ical_uid, folder, blocker, shape, exchange_shape, updated)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, clock_timestamp())
       on conflict (mailbox, item_id) do update set crm_id = excluded.crm_id, change_key = excluded.change_key, crm_version = excluded.crm_version,
         log_partition = excluded.log_partition, log_offset = excluded.log_offset, deleted = excluded.deleted, deleted_by = excluded.deleted_by,
         known_keys = excluded.known_keys, overruled_up_to = excluded.overruled_up_to, ical_uid = excluded.ical_uid, folder = coalesce(excluded.folder, ${this.table}.folder), blocker = excluded.blocker, shape = excluded.shape, exchange_shape = excluded.exchange_shape, updated = clock_timestamp()
       where ${this.table}.lease_owner is null or ${this.table}.lease_owner = $14 or ${this.table}.lease_until < clock_timestamp()`,
      [m.mailbox, m.itemId, m.crmId, m.changeKey, m.crmVersion, m.logPartition, m.logOffset, m.deleted, m.deleted ? (m.deletedBy ?? null) : null,
        [...(m.knownKeys ?? [])], m.overruledUpTo !== undefined ? new Date(m.overruledUpTo) : null, m.iCalUid ?? null, m.folder ?? null, lease?.token ?? null, m.blocker === true, m.shape ?? null, m.exchangeShape ?? null],
    );
    if (r.rowCount === 0) throw new ItemBusyError(m.mailbox, m.itemId);
  }

  /** Tombstones the mappings of a series' exceptions (the series is gone). */
  async tombstoneExceptions(mailbox: string, masterItemId: string): Promise<void> {
    await this.db.query(`update ${this.table} set deleted = true, deleted_by = 'exchange', updated = clock_timestamp() where mailbox = $1 and starts_with(item_id, $2) and not deleted`, [mailbox, `${masterItemId}@`]);
  }

  /**
   * Records a CRM record's new version after a write of the sync's own that its item does not
   * see (the meeting's mother), if the mapping still holds the version before that write.
   */
  async setCrmVersion(crmId: CrmRef, from: string, to: string): Promise<void> {
    await this.db.query(`update ${this.table} set crm_version = $3, updated = clock_timestamp() where crm_id = $1 and crm_version = $2 and not deleted`, [crmId, from, to]);
  }

  async page(entity: CrmEntity, after: CrmRef | undefined, limit: number): Promise<Array<{ ref: CrmRef; mailbox: string }>> {
    // ids of one entity differ in length before they differ in order: (length, text) is id order
    const { rows } = await this.db.query<{ crm_id: string; mailbox: string }>(
      `select crm_id, mailbox from ${this.table} where not deleted and starts_with(crm_id, $1) and ($2::text is null or (length(crm_id), crm_id) > (length($2), $2))
        order by length(crm_id), crm_id limit ${Math.max(1, Math.floor(limit))}`, [`${entity}:`, after ?? null],
    );
    return rows.map((r) => ({ ref: r.crm_id, mailbox: r.mailbox }));
  }

  async mailboxOf(ref: CrmRef): Promise<string | undefined> {
    return (await this.getByCrmId(ref))?.mailbox;
  }

  /**
   * Mappings of items the sync created in Exchange and has not yet seen come back (no log
   * position), saved longer ago than `minAgeMs`.
   */
  async unconfirmed(minAgeMs: number, limit: number): Promise<ItemMapping[]> {
    const { rows } = await this.db.query<MappingRow>(
      `select * from ${this.table} where not deleted and log_partition = -1 and position('@' in item_id) = 0 and updated < clock_timestamp() - make_interval(secs => $1)
        order by mailbox limit ${Math.max(1, Math.floor(limit))}`, [minAgeMs / 1000],
    );
    return rows.map(mappingOf);
  }
}
