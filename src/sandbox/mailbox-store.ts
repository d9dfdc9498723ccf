import type { XmlElement } from '../shared/safe-xml.js';
import { changeKeyOf, folderIdOf, itemIdOf, parseItemId } from './ids.js';
import { FOLDER_KIND, type ItemKind } from './item-properties.js';

/** A property value: text (times already normalised to UTC) or the element as the client sent it. */
export type PropertyValue = string | XmlElement;

export interface ExtendedValue {
  /** The ExtendedFieldURI element, kept to echo it back exactly. */
  readonly uri: XmlElement;
  readonly value: string | readonly string[];
}

export interface OccurrenceOverride {
  /** Start/End/Subject/Location… of the exception, as for the master. */
  props: Record<string, PropertyValue>;
}

export interface StoredItem {
  readonly mailbox: number;
  /** Number within the mailbox; part of the ItemId. A move gives a new one (and a new ItemId), as in Exchange. */
  seq: number;
  folder: string;
  readonly kind: ItemKind;
  /** Global change counter at the last change: the ChangeKey. */
  version: number;
  /** The mailbox's change number at the last change, and at creation (SyncFolderItems). */
  changeNumber: number;
  createdChangeNumber: number;
  readonly created: number;
  modified: number;
  props: Record<string, PropertyValue>;
  extended: Map<string, ExtendedValue>;
  /** Recurring masters: exceptions by original start (ms), and deleted occurrences' original starts. */
  modifiedOccurrences?: Map<number, OccurrenceOverride>;
  deletedOccurrences?: Set<number>;
}

export type MailboxEventType = 'CreatedEvent' | 'ModifiedEvent' | 'DeletedEvent' | 'MovedEvent' | 'CopiedEvent' | 'NewMailEvent' | 'FreeBusyChangedEvent';

export interface MailboxEvent {
  readonly seq: number;
  readonly type: MailboxEventType;
  readonly time: number;
  readonly itemId: string;
  readonly changeKey: string;
  readonly folder: string;
  readonly oldItemId?: string;
  readonly oldFolder?: string;
  /** A folder's own ModifiedEvent (its item count changed); itemId is unused then. */
  readonly folderEvent?: boolean;
}

export interface Folder {
  readonly key: string;
  displayName: string;
  readonly parent: string;
  readonly folderClass: string;
  readonly distinguished: boolean;
}

interface Tombstone {
  itemId: string;
  changeNumber: number;
  /** When the deleted item was created: a client whose state is older never saw it. */
  createdChangeNumber: number;
}

const WELL_KNOWN_FOLDERS: readonly Folder[] = [
  { key: 'root', displayName: 'Root', parent: 'root', folderClass: '', distinguished: true },
  { key: 'msgfolderroot', displayName: 'Top of Information Store', parent: 'root', folderClass: 'IPF.Note', distinguished: true },
  { key: 'inbox', displayName: 'Inbox', parent: 'msgfolderroot', folderClass: 'IPF.Note', distinguished: true },
  { key: 'calendar', displayName: 'Calendar', parent: 'msgfolderroot', folderClass: 'IPF.Appointment', distinguished: true },
  { key: 'tasks', displayName: 'Tasks', parent: 'msgfolderroot', folderClass: 'IPF.Task', distinguished: true },
  { key: 'contacts', displayName: 'Contacts', parent: 'msgfolderroot', folderClass: 'IPF.Contact', distinguished: true },
  { key: 'deleteditems', displayName: 'Deleted Items', parent: 'msgfolderroot', folderClass: 'IPF.Note', distinguished: true },
];

/** How many events a mailbox keeps; older watermarks become invalid (Exchange keeps 30 days). */
export const EVENTS_KEPT_PER_MAILBOX = 1_000;

/** Where a mailbox lives: see Mailbox.home. */
export type MailboxHome = 'anywhere' | 'on-premises' | 'online';

export class Mailbox {
  readonly index: number;
  readonly address: string;
  /** ErrorImpersonateUserDenied when true (the service account lacks the right for it). */
  denied = false;
  /**
   * Where the mailbox lives in a hybrid organisation: served by both EWS and Graph (the default,
   * one store seen through both), on premises (EWS only) or in Exchange Online (Graph only).
   */
  home: MailboxHome = 'anywhere';
  /** A move under way until then (ms): EWS answers ErrorMailboxMoveInProgress, Graph does not serve it yet. */
  movingUntil = 0;
  readonly folders = new Map<string, Folder>(WELL_KNOWN_FOLDERS.map((f) => [f.key, f]));
  readonly items = new Map<number, StoredItem>();
  readonly itemsByFolder = new Map<string, Set<number>>();
  readonly tombstones = new Map<string, Tombstone[]>();
  changeNumber = 0;
  nextItemSeq = 1;
  nextFolderSeq = 1;
  /** Retained events, oldest first; seq numbers are contiguous. */
  events: MailboxEvent[] = [];
  nextEventSeq = 1;

  constructor(index: number, address: string) {
    this.index = index;
    this.address = address;
  }

  /** Whether EWS serves the mailbox now: 'moving' while a move is under way, 'gone' once it lives in Exchange Online. */
  servedOnPremises(now: number): 'yes' | 'moving' | 'gone' {
    if (now < this.movingUntil) return 'moving';
    return this.home === 'online' ? 'gone' : 'yes';
  }

  servedOnline(now: number): boolean {
    return now >= this.movingUntil && this.home !== 'on-premises';
  }

  /** The seq of the oldest event still kept (a watermark before it is invalid). */
  get oldestKeptSeq(): number {
    return this.events.length ? this.events[0].seq : this.nextEventSeq;
  }

  /** The watermark position a new subscription starts from: everything up to now is "seen". */
  get lastEventSeq(): number {
    return this.nextEventSeq - 1;
  }

  eventsAfter(seq: number): MailboxEvent[] {
    if (!this.events.length) return [];
    const start = Math.max(0, seq + 1 - this.events[0].seq);
    return this.events.slice(start);
  }
}

/** A mailbox as plain data (JSON): what a persisted sandbox keeps across restarts. */
export interface MailboxData {
  readonly index: number;
  readonly address: string;
  readonly denied: boolean;
  readonly folders: readonly Folder[];
  readonly items: ReadonlyArray<Omit<StoredItem, 'extended' | 'modifiedOccurrences' | 'deletedOccurrences'> & {
    readonly extended: ReadonlyArray<[string, ExtendedValue]>;
    readonly modifiedOccurrences?: ReadonlyArray<[number, OccurrenceOverride]>;
    readonly deletedOccurrences?: readonly number[];
  }>;
  readonly tombstones: ReadonlyArray<[string, Tombstone[]]>;
  readonly changeNumber: number;
  readonly nextItemSeq: number;
  readonly nextFolderSeq: number;
  readonly events: readonly MailboxEvent[];
  readonly nextEventSeq: number;
}

export interface StoreData {
  /** The global change counter (ChangeKeys). */
  readonly version: number;
  readonly mailboxes: readonly MailboxData[];
}

export interface StoreListener {
  (mailbox: Mailbox, event: MailboxEvent): void;
}

/** All mailboxes, folders and items of the sandbox, and the event log of each mailbox. */
export class MailboxStore {
  private readonly mailboxes: Mailbox[] = [];
  private readonly byAddress = new Map<string, Mailbox>();
  private version = 1;
  /** How far numbering jumped ahead at a restore after a crash (PersistedStore). */
  private skipped = 0;
  private readonly listeners = new Set<StoreListener>();
  readonly domain: string;
  private readonly now: () => number;

  constructor(options: { domain?: string; now?: () => number } = {}) {
    this.domain = options.domain ?? 'contoso.test';
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.mailboxes.length;
  }

  all(): readonly Mailbox[] {
    return this.mailboxes;
  }

  /** Adds mailboxes user0001@… up to `count` (keeps existing ones). */
  ensureMailboxes(count: number): void {
    const width = Math.max(4, String(count).length);
    for (let i = this.mailboxes.length + 1; i <= count; i++) this.addMailbox(`user${String(i).padStart(width, '0')}@${this.domain}`);
  }

  addMailbox(address: string): Mailbox {
    const existing = this.byAddress.get(address.toLowerCase());
    if (existing) return existing;
    const mailbox = new Mailbox(this.mailboxes.length + 1, address.toLowerCase());
    // after a crash, a mailbox made again must not hand out the ItemIds its lost self did
    mailbox.nextItemSeq = mailbox.nextFolderSeq = mailbox.nextEventSeq = 1 + this.skipped;
    mailbox.changeNumber = this.skipped;
    this.mailboxes.push(mailbox);
    this.byAddress.set(mailbox.address, mailbox);
    return mailbox;
  }

  byEmail(address: string): Mailbox | undefined {
    return this.byAddress.get(address.trim().toLowerCase());
  }

  /** The item an EWS ItemId names, if it is still there. */
  itemById(itemId: string): StoredItem | undefined {
    const key = parseItemId(itemId);
    return key && this.byIndex(key.mailbox)?.items.get(key.item);
  }

  byIndex(index: number): Mailbox | undefined {
    return this.mailboxes[index - 1];
  }

  onEvent(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything as plain data, to be restored by `restore` (in another process). */
  data(): StoreData {
    return {
      version: this.version,
      mailboxes: this.mailboxes.map((m) => ({
        index: m.index, address: m.address, denied: m.denied, folders: [...m.folders.values()],
        items: [...m.items.values()].map((i) => ({
          ...i, extended: [...i.extended], modifiedOccurrences: i.modifiedOccurrences && [...i.modifiedOccurrences], deletedOccurrences: i.deletedOccurrences && [...i.deletedOccurrences],
        })),
        tombstones: [...m.tombstones], changeNumber: m.changeNumber, nextItemSeq: m.nextItemSeq, nextFolderSeq: m.nextFolderSeq, events: m.events, nextEventSeq: m.nextEventSeq,
      })),
    };
  }

  /**
   * Replaces the mailboxes with saved ones. `skip`: numbers handed out after the data was saved
   * may be in clients' hands (a crash after the last save): item numbers and ChangeKeys
   * continue this far ahead, so no ItemId or ChangeKey names two different things.
   */
  restore(data: StoreData, skip = 0): void {
    this.mailboxes.length = 0;
    this.byAddress.clear();
    this.version = data.version + skip;
    this.skipped = skip;
    for (const d of [...data.mailboxes].sort((a, b) => a.index - b.index)) {
      const mailbox = this.addMailbox(d.address);
      if (mailbox.index !== d.index) throw new Error(`saved mailboxes are not numbered 1…n (${d.address} is ${d.index})`);
      mailbox.denied = d.denied;
      mailbox.folders.clear();
      for (const f of d.folders) mailbox.folders.set(f.key, f);
      for (const i of d.items) {
        this.index(mailbox, {
          ...i, extended: new Map(i.extended),
          modifiedOccurrences: i.modifiedOccurrences ? new Map(i.modifiedOccurrences) : undefined,
          deletedOccurrences: i.deletedOccurrences ? new Set(i.deletedOccurrences) : undefined,
        });
      }
      for (const [folder, list] of d.tombstones) mailbox.tombstones.set(folder, list);
      mailbox.changeNumber = d.changeNumber + skip;
      mailbox.nextItemSeq = d.nextItemSeq + skip;
      mailbox.nextFolderSeq = d.nextFolderSeq + skip;
      mailbox.events = [...d.events];
      mailbox.nextEventSeq = d.nextEventSeq + skip;
    }
  }

  itemCount(): number {
    let n = 0;
    for (const m of this.mailboxes) n += m.items.size;
    return n;
  }

  createFolder(mailbox: Mailbox, parent: string, displayName: string, folderClass: string): Folder {
    const folder: Folder = { key: `f${mailbox.nextFolderSeq++}`, displayName, parent, folderClass, distinguished: false };
    mailbox.folders.set(folder.key, folder);
    return folder;
  }

  /**
   * DeleteFolder: the folder, its subfolders and their items go (each item's deletion is seen
   * by a SyncFolderItems of its folder, as Exchange keeps them); one event for the folder.
   */
  deleteFolder(mailbox: Mailbox, key: string): void {
    for (const child of [...mailbox.folders.values()]) if (child.parent === key && child.key !== key) this.deleteFolder(mailbox, child.key);
    const parent = mailbox.folders.get(key)?.parent;
    for (const item of this.itemsIn(mailbox, key)) {
      this.unindex(mailbox, item);
      this.tombstone(mailbox, key, itemIdOf(mailbox.index, item.seq), item.createdChangeNumber);
    }
    mailbox.folders.delete(key);
    mailbox.itemsByFolder.delete(key);
    if (parent) this.append(mailbox, { type: 'ModifiedEvent', time: this.now(), itemId: '', changeKey: '', folder: parent, folderEvent: true });
  }

  /** UpdateFolder of its DisplayName. */
  renameFolder(mailbox: Mailbox, key: string, displayName: string): void {
    const folder = mailbox.folders.get(key);
    if (!folder) return;
    folder.displayName = displayName;
    this.append(mailbox, { type: 'ModifiedEvent', time: this.now(), itemId: '', changeKey: '', folder: key, folderEvent: true });
  }

  /** `silent`: no events (the sandbox's initial data, which existed before anyone subscribed). */
  createItem(mailbox: Mailbox, folder: string, kind: ItemKind, props: Record<string, PropertyValue>, extended: Map<string, ExtendedValue>, silent = false): StoredItem {
    const now = this.now();
    const changeNumber = ++mailbox.changeNumber;
    const item: StoredItem = {
      mailbox: mailbox.index, seq: mailbox.nextItemSeq++, folder, kind, version: this.version++, changeNumber, createdChangeNumber: changeNumber,
      created: now, modified: now, props, extended,
    };
    this.index(mailbox, item);
    if (!silent) this.emit(mailbox, { type: 'CreatedEvent', time: now, itemId: itemIdOf(mailbox.index, item.seq), changeKey: changeKeyOf(item.version), folder });
    return item;
  }

  /** Records that `item` was changed in place (the caller already changed its props). */
  touch(mailbox: Mailbox, item: StoredItem): void {
    const now = this.now();
    item.version = this.version++;
    item.changeNumber = ++mailbox.changeNumber;
    item.modified = now;
    this.emit(mailbox, { type: 'ModifiedEvent', time: now, itemId: itemIdOf(mailbox.index, item.seq), changeKey: changeKeyOf(item.version), folder: item.folder });
  }

  /** HardDelete / SoftDelete: gone from its folder; a DeletedEvent. */
  deleteItem(mailbox: Mailbox, item: StoredItem): void {
    const now = this.now();
    const itemId = itemIdOf(mailbox.index, item.seq);
    this.unindex(mailbox, item);
    this.tombstone(mailbox, item.folder, itemId, item.createdChangeNumber);
    this.emit(mailbox, { type: 'DeletedEvent', time: now, itemId, changeKey: changeKeyOf(item.version), folder: item.folder });
  }

  /** A move (MoveToDeletedItems, MoveItem): a new ItemId in the new folder; a MovedEvent. */
  moveItem(mailbox: Mailbox, item: StoredItem, toFolder: string): StoredItem {
    const now = this.now();
    const oldId = itemIdOf(mailbox.index, item.seq);
    const oldFolder = item.folder;
    this.unindex(mailbox, item);
    this.tombstone(mailbox, oldFolder, oldId, item.createdChangeNumber);
    item.seq = mailbox.nextItemSeq++;
    item.folder = toFolder;
    item.version = this.version++;
    item.changeNumber = item.createdChangeNumber = ++mailbox.changeNumber;
    item.modified = now;
    this.index(mailbox, item);
    this.emit(mailbox, {
      type: 'MovedEvent', time: now, itemId: itemIdOf(mailbox.index, item.seq), changeKey: changeKeyOf(item.version), folder: toFolder,
      oldItemId: oldId, oldFolder,
    });
    return item;
  }

  itemsIn(mailbox: Mailbox, folder: string): StoredItem[] {
    const seqs = mailbox.itemsByFolder.get(folder);
    if (!seqs) return [];
    const out: StoredItem[] = [];
    for (const seq of seqs) out.push(mailbox.items.get(seq)!);
    return out;
  }

  /** Items and deletions of `folder` changed after `afterChange`, in change order. */
  changesSince(mailbox: Mailbox, folder: string, afterChange: number): Array<{ item?: StoredItem; deletedId?: string; changeNumber: number }> {
    const changes: Array<{ item?: StoredItem; deletedId?: string; changeNumber: number }> = [];
    for (const item of this.itemsIn(mailbox, folder)) if (item.changeNumber > afterChange) changes.push({ item, changeNumber: item.changeNumber });
    for (const t of mailbox.tombstones.get(folder) ?? []) {
      // an item both created and deleted after the client's state was never seen by it
      if (t.changeNumber > afterChange && t.createdChangeNumber <= afterChange) changes.push({ deletedId: t.itemId, changeNumber: t.changeNumber });
    }
    return changes.sort((a, b) => a.changeNumber - b.changeNumber);
  }

  defaultKindOf(folder: Folder): ItemKind | undefined {
    if (FOLDER_KIND[folder.key]) return FOLDER_KIND[folder.key];
    if (folder.folderClass.startsWith('IPF.Appointment')) return 'CalendarItem';
    if (folder.folderClass.startsWith('IPF.Task')) return 'Task';
    if (folder.folderClass.startsWith('IPF.Contact')) return 'Contact';
    return undefined;
  }

  folderIdOf(mailbox: Mailbox, folder: string): string {
    return folderIdOf(mailbox.index, folder);
  }

  private index(mailbox: Mailbox, item: StoredItem): void {
    mailbox.items.set(item.seq, item);
    let set = mailbox.itemsByFolder.get(item.folder);
    if (!set) mailbox.itemsByFolder.set(item.folder, (set = new Set()));
    set.add(item.seq);
  }

  private unindex(mailbox: Mailbox, item: StoredItem): void {
    mailbox.items.delete(item.seq);
    mailbox.itemsByFolder.get(item.folder)?.delete(item.seq);
  }

  private tombstone(mailbox: Mailbox, folder: string, itemId: string, createdChangeNumber: number): void {
    let list = mailbox.tombstones.get(folder);
    if (!list) mailbox.tombstones.set(folder, (list = []));
    list.push({ itemId, changeNumber: ++mailbox.changeNumber, createdChangeNumber });
  }

  /**
   * Records an item event and, as Exchange does, its companions: FreeBusyChangedEvent for
   * calendar items, and a ModifiedEvent of each folder whose item count changed.
   */
  private emit(mailbox: Mailbox, event: Omit<MailboxEvent, 'seq'>): void {
    this.append(mailbox, event);
    if (event.folder === 'calendar' && event.type !== 'DeletedEvent') this.append(mailbox, { ...event, type: 'FreeBusyChangedEvent' });
    if (event.type !== 'ModifiedEvent') {
      for (const folder of new Set([event.folder, event.oldFolder].filter((f): f is string => f !== undefined))) {
        this.append(mailbox, { type: 'ModifiedEvent', time: event.time, itemId: '', changeKey: '', folder, folderEvent: true });
      }
    }
  }

  private append(mailbox: Mailbox, event: Omit<MailboxEvent, 'seq'>): void {
    const full: MailboxEvent = { ...event, seq: mailbox.nextEventSeq++ };
    mailbox.events.push(full);
    if (mailbox.events.length > EVENTS_KEPT_PER_MAILBOX) mailbox.events.splice(0, mailbox.events.length - EVENTS_KEPT_PER_MAILBOX);
    for (const listener of this.listeners) listener(mailbox, full);
  }
}
