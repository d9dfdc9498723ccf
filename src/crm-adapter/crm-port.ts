import type { ItemFields } from '../shared/item-fields.js';

/** An appointment (type 1) or task (type 2) row of the CRM, as the handlers see it. */
export interface CrmActivity {
  readonly id: number;
  readonly associateId: number;
  readonly type: 1 | 2;
  readonly fields: ItemFields;
  /** updated_count: the row's version. */
  readonly version: number;
}

/** What the handlers need from the CRM. Writes are marked as the sync's own (origin "sync"). */
export interface CrmPort {
  associateIdByEmail(email: string): Promise<number | undefined>;
  get(id: number): Promise<CrmActivity | undefined>;
  /** Inserts a row for the associate; returns its id and version. */
  insert(associateId: number, type: 1 | 2, fields: ItemFields): Promise<{ id: number; version: number }>;
  /** Updates a row; returns the new version, or undefined when the row is gone. */
  update(id: number, fields: ItemFields): Promise<number | undefined>;
  delete(id: number): Promise<boolean>;
}

/** One row of the CRM's change log, with the activity as it is now (absent when deleted). */
export interface CrmChange {
  readonly changeId: number;
  /** When it was logged (ms). */
  readonly time: number;
  readonly table: string;
  readonly recordId: number;
  readonly op: 'c' | 'u' | 'd';
  /** 'sync' for the sync's own writes, 'user' otherwise. */
  readonly origin: string;
  readonly ownerId: number | null;
  readonly ownerEmail: string | null;
  readonly activity?: CrmActivity;
}

/** The CRM's change log, read in order after a position. */
export interface CrmChangeFeed {
  readonly name: string;
  changesAfter(changeId: number, limit: number): Promise<CrmChange[]>;
  /** Calls `wake` when the CRM announces a change (LISTEN/NOTIFY); resolves to a stop function. */
  onChange(wake: () => void): Promise<() => Promise<void>>;
}
