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
