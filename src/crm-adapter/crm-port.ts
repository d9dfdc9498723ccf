import type { ItemFields } from '../shared/item-fields.js';

/**
 * The CRM as the rest of the sync sees it. Two adapters implement it: the reference CRM
 * (SQL tables, src/crm-adapter/reference-crm.ts) and SuperOffice's Web API. Handlers,
 * streams and subscriptions use only these interfaces; every failure is a CrmError whose
 * `retriable` says whether the same call may succeed later.
 */

/** The kinds of CRM record the sync knows. */
export type CrmEntity = 'appointment' | 'associate' | 'person' | 'contact' | 'selection';

/**
 * A CRM record's identity: the entity and its id in that CRM, "appointment:42". Ids of
 * different entities never collide, and an adapter whose ids are not numbers fits too.
 */
export type CrmRef = string;

export const crmRef = (entity: CrmEntity, id: string | number): CrmRef => `${entity}:${id}`;

/** "appointment:42" → { entity: 'appointment', id: '42' }; undefined for anything else. */
export function parseCrmRef(ref: string | null | undefined): { entity: CrmEntity; id: string } | undefined {
  const m = /^(appointment|associate|person|contact|selection):(.+)$/.exec(ref ?? '');
  return m ? { entity: m[1] as CrmEntity, id: m[2] } : undefined;
}

/** A diary appointment or a task (SuperOffice: an appointment in the checklist). */
export type ActivityKind = 'appointment' | 'task';

/** A CRM user: the owner of activities, whose e-mail address is a mailbox. */
export interface CrmAssociate {
  readonly ref: CrmRef;
  readonly email: string;
}

/** One appointment or task of the CRM, in the normalised fields both sides share. */
export interface CrmActivity {
  readonly ref: CrmRef;
  readonly kind: ActivityKind;
  readonly owner: CrmRef;
  readonly ownerEmail?: string;
  readonly fields: ItemFields;
  /** The record's version: an opaque token only the adapter orders (compareVersions). */
  readonly version: string;
  /** The current version was written by the sync itself (not a user's edit). */
  readonly writtenBySync: boolean;
}

/**
 * A CRM person (SuperOffice: a person of a company) as a contact card: fields.contact holds
 * the names, company, e-mails, phones and address, fields.body the notes, fields.contactRef
 * the company. `owner` is the associate who owns the person ("our contact"), whose mailbox
 * gets the person as a contact.
 */
export interface CrmPerson {
  readonly ref: CrmRef;
  readonly owner: CrmRef | null;
  readonly ownerEmail?: string;
  readonly fields: ItemFields;
  readonly version: string;
  readonly writtenBySync: boolean;
}

/** A static selection: its members are persons (target 'person'), its subscribers associates. */
export interface CrmSelection {
  readonly ref: CrmRef;
  readonly name: string;
  /** What the selection lists: only a selection of persons becomes a contact folder. */
  readonly target: string;
  /** The e-mail addresses (mailboxes) of the associates who subscribe to it. */
  readonly subscribers: readonly string[];
}

/** A record as a listing names it: enough to tell whether it is there and at which version. */
export interface CrmRecordVersion {
  readonly ref: CrmRef;
  readonly kind: ActivityKind | 'contact';
  readonly version: string;
  readonly writtenBySync: boolean;
}

/** What a conditional write did. */
export type CrmWriteOutcome<T = CrmActivity> =
  | { readonly status: 'written'; readonly version: string }
  /** The record is no longer at the version asked for: nothing was written. */
  | { readonly status: 'conflict'; readonly current: T }
  | { readonly status: 'missing' };

/** A CRM person an attendee's address belongs to, and their company. */
export interface CrmPersonLink {
  readonly personRef: CrmRef;
  readonly contactRef: CrmRef | null;
}

/** What the handlers need from the CRM. Writes are the sync's own (never sent back). */
export interface CrmPort {
  /** Which CRM this is (a database schema, a tenant URL): the sync's state belongs to it. */
  readonly identity: string;
  associateByEmail(email: string): Promise<CrmAssociate | undefined>;
  get(ref: CrmRef): Promise<CrmActivity | undefined>;
  /**
   * Creates an activity of the owner, stamped with `stamp` (the sync's own key on the
   * record: a column, a SuperOffice foreign key), so a create cut short can be found again.
   * A series' exception is created with fields.seriesRef and fields.originalStart.
   */
  create(owner: CrmRef, kind: ActivityKind, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }>;
  /**
   * The activity an earlier create stamped with `stamp`, if it exists. A CRM that stamps in a
   * second write (SuperOffice: a foreign key after the POST) also looks for the record that
   * create made for `expected` and never stamped (the process died between the two writes).
   */
  findStamped(stamp: string, expected?: { owner: CrmRef; kind: ActivityKind; fields: ItemFields }): Promise<CrmActivity | undefined>;
  /** Overwrites the synced fields; with `ifVersion`, only if the record is still at that version. */
  update(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome>;
  /** Deletes the activity (a series with its exceptions); false when it was gone already. */
  delete(ref: CrmRef): Promise<boolean>;
  /** A series' exceptions (modified occurrences), by original start (UTC). */
  exceptions(seriesRef: CrmRef): Promise<Map<string, CrmActivity>>;
  /**
   * An exception that is no longer one: its occurrence is as the series again (a CRM that keeps
   * exceptions as records of their own deletes it; one that keeps a row per occurrence sets the
   * row back). False when it was gone.
   */
  restoreOccurrence(exceptionRef: CrmRef): Promise<boolean>;
  /** Joins an activity to a meeting's mother record; returns its new version (undefined: gone). */
  setMother(ref: CrmRef, motherRef: CrmRef): Promise<string | undefined>;
  /** The first CRM person with one of these e-mail addresses, in their order. */
  personByEmail(emails: readonly string[]): Promise<CrmPersonLink | undefined>;
  /** < 0 when version a is older than b, 0 when the same, > 0 when newer. */
  compareVersions(a: string, b: string): number;

  // ── persons (contacts) ──
  person(ref: CrmRef): Promise<CrmPerson | undefined>;
  /** Many persons at once (a selection's members), in no particular order; gone ones are left out. */
  persons(refs: readonly CrmRef[]): Promise<CrmPerson[]>;
  /**
   * Creates a person owned by the associate, stamped like an activity. The company
   * (fields.contact.company) is the CRM contact of that name, made if there is none.
   */
  createPerson(owner: CrmRef, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }>;
  findStampedPerson(stamp: string): Promise<CrmPerson | undefined>;
  updatePerson(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome<CrmPerson>>;
  deletePerson(ref: CrmRef): Promise<boolean>;

  /**
   * Every record the associate owns that the sync carries (appointments, tasks, persons), with
   * its version ('' where the listing cannot tell it) — what `verify` compares with the mailbox.
   * A series' exceptions are left out (they are part of their series).
   */
  recordsOf(owner: CrmRef): Promise<CrmRecordVersion[]>;

  // ── selections ──
  selection(ref: CrmRef): Promise<CrmSelection | undefined>;
  /** The persons a selection lists. */
  selectionMembers(ref: CrmRef): Promise<CrmRef[]>;
}

/** What a CRM change is about: an activity, a person (a contact), or a selection as a whole. */
export type CrmChangeKind = ActivityKind | 'contact' | 'selection-member';

/** One change of the CRM, with the record as it is now (absent when deleted). */
export interface CrmChange {
  readonly ref: CrmRef;
  readonly kind: CrmChangeKind;
  readonly op: 'c' | 'u' | 'd';
  /** When the CRM made the change (ms). */
  readonly time: number;
  /** The sync wrote this change itself: it advances the position but is not sent back. */
  readonly bySync: boolean;
  readonly owner: CrmRef | null;
  readonly ownerEmail: string | null;
  /** The feed's position just after this change. */
  readonly position: string;
  readonly activity?: CrmActivity;
  readonly person?: CrmPerson;
  readonly selection?: CrmSelection;
  /** The record cannot be carried (the adapter says why): it is parked, and the changes after it flow. */
  readonly refused?: Error;
}

/** A batch of changes and where the feed stands after it. */
export interface CrmChangeBatch {
  readonly changes: readonly CrmChange[];
  /** Save this once the changes are in the log (undefined: nothing new was read). */
  readonly position: string | undefined;
  /** More changes wait: read again at once. */
  readonly more: boolean;
}

/** The CRM's changes, read in order after a saved position. */
export interface CrmChangeFeed {
  /** Names the feed in positions and in envelopes' source (`crm:<name>`). */
  readonly name: string;
  read(after: string | undefined, limit: number): Promise<CrmChangeBatch>;
  /** Calls `wake` when the CRM announces a change (NOTIFY, a webhook); resolves to a stop function. */
  onChange(wake: () => void): Promise<() => Promise<void>>;
}

/**
 * The CRM records the sync has mapped, from its own state: what a feed that cannot list
 * deletions (SuperOffice's archive shows only what exists) checks, and where it routes a
 * delete whose record is gone.
 */
export interface MappedRecords {
  /** Live mapped records of `entity` after `after` (in id order), each with its mailbox. */
  page(entity: CrmEntity, after: CrmRef | undefined, limit: number): Promise<Array<{ ref: CrmRef; mailbox: string }>>;
  mailboxOf(ref: CrmRef): Promise<string | undefined>;
  /** The selections the sync keeps contact folders for (a feed that cannot list deletions checks them). */
  selectionRefs?(): Promise<CrmRef[]>;
}

/** The CRM's users whose mailboxes are synced (`<mailboxes source="crm"/>`). */
export interface CrmDirectory {
  readonly description: string;
  activeAssociateEmails(): Promise<string[]>;
  /**
   * A hybrid organisation: where the CRM says its users' mailboxes live (the reference CRM's
   * associate.mailbox_home), by lower-case address; users it says nothing of are left out.
   */
  mailboxHomes?(): Promise<ReadonlyMap<string, 'on-premises' | 'online'>>;
  /** Which way the CRM says its users' mailboxes are synced (the reference CRM's associate.sync_direction), by lower-case address. */
  mailboxDirections?(): Promise<ReadonlyMap<string, 'two-way' | 'to-crm' | 'to-exchange' | 'off'>>;
}
