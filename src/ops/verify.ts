import type { CrmPort, CrmRecordVersion } from '../crm-adapter/crm-port.js';
import type { FolderKind, ListedItem, MailboxStore } from '../exchange/index.js';
import type { ItemMapping, ItemMappingStore } from '../handlers/index.js';
import { carries, type SyncDirection, type Towards } from '../subscriptions/index.js';

/** How a mailbox and the CRM disagree about one item or record. */
export type DisagreementKind =
  /** An Exchange item no CRM record stands for. */
  | 'missing'
  /** Both sides have it, and one side's last change has not reached the other. */
  | 'stale'
  /** A mapped item or record that is gone on one side and still there on the other (a delete that did not cross). */
  | 'ghost'
  /** A CRM record of the mailbox's associate that no item stands for. */
  | 'unlinked';

export interface Disagreement {
  readonly kind: DisagreementKind;
  /** The side that lacks the change: the CRM (an Exchange change not carried) or Exchange. */
  readonly towards: Towards;
  readonly folder: FolderKind;
  readonly itemId?: string;
  readonly crmId?: string;
  readonly detail: string;
}

export interface MailboxVerdict {
  readonly mailbox: string;
  /** Items compared (in the sync window) and the associate's records. */
  readonly items: number;
  readonly records: number;
  readonly disagreements: readonly Disagreement[];
  /** The mailbox could not be compared (not an associate, Exchange refused): why. */
  readonly error?: string;
  /** A one-way mailbox: its direction, and the differences it implies (counted as agreeing, not listed). */
  readonly direction?: SyncDirection;
  readonly byPolicy?: number;
  /** Items the policy's item rules keep from the CRM (private="skip", categories), with no record: agreeing. */
  readonly filtered?: number;
}

export interface VerifyOptions {
  readonly exchange: Pick<MailboxStore, 'listFolder'>;
  readonly crm: Pick<CrmPort, 'associateByEmail' | 'recordsOf' | 'compareVersions'>;
  readonly mappings: Pick<ItemMappingStore, 'ofMailbox'>;
  readonly folders: readonly FolderKind[];
  readonly windowPastDays: number;
  readonly windowFutureDays: number;
  readonly now?: () => number;
  /** Each mailbox's direction: a change its direction does not carry is no disagreement. */
  readonly directionOf?: (mailbox: string) => SyncDirection;
  /** An item the policy keeps from the CRM (private="skip", an excluded category): without a record it agrees. */
  readonly keptFromCrm?: (item: ListedItem) => boolean;
}

const KIND_OF_FOLDER: Record<FolderKind, CrmRecordVersion['kind']> = { calendar: 'appointment', tasks: 'task', contacts: 'contact' };
const DAY = 86_400_000;

/**
 * One mailbox compared with the CRM item by item: Exchange's items (listed afresh, within
 * the sync window — the initial sync takes no other) against the associate's records, through
 * the sync's mappings. The mailbox is read with SyncFolderItems from the start (the cost of
 * a full sync of its folders); nothing is written. A change still on its way shows as stale
 * or missing: compare again once the consumer lag is 0.
 */
export async function verifyMailbox(options: VerifyOptions, mailbox: string): Promise<MailboxVerdict> {
  const verdict = await compareMailbox(options, mailbox);
  const direction = options.directionOf?.(mailbox);
  if (!direction || direction === 'two-way') return verdict;
  const kept = verdict.disagreements.filter((d) => carries(direction, d.towards));
  return { ...verdict, disagreements: kept, direction, byPolicy: verdict.disagreements.length - kept.length };
}

async function compareMailbox(options: VerifyOptions, mailbox: string): Promise<MailboxVerdict> {
  const associate = await options.crm.associateByEmail(mailbox);
  let filtered = 0;
  if (!associate) return { mailbox, items: 0, records: 0, disagreements: [], error: `${mailbox} is not an active CRM associate` };
  const now = options.now?.() ?? Date.now();
  const from = now - options.windowPastDays * DAY;
  const to = now + options.windowFutureDays * DAY;
  const inWindow = (c: ListedItem): boolean => {
    if (c.recurring || (!c.start && !c.end)) return true;
    const start = Date.parse(c.start ?? c.end!);
    return Date.parse(c.end ?? c.start!) >= from && start <= to;
  };
  const records = await options.crm.recordsOf(associate.ref);
  const mappings = (await options.mappings.ofMailbox(mailbox)).filter((m) => !m.itemId.includes('@'));
  const byRecord = new Map<string, ItemMapping>(mappings.map((m) => [m.crmId, m]));
  const disagreements: Disagreement[] = [];
  let items = 0;
  for (const folder of options.folders) {
    const listed = await options.exchange.listFolder(mailbox, folder);
    const present = new Map(listed.map((c) => [c.itemId, c]));
    const kindRecords = new Map(records.filter((r) => r.kind === KIND_OF_FOLDER[folder]).map((r) => [r.ref, r]));
    const folderMappings = mappings.filter((m) => (m.folder ?? 'calendar') === folder);
    const mapped = new Map(folderMappings.map((m) => [m.itemId, m]));
    for (const item of listed) {
      const m = mapped.get(item.itemId);
      if (!m && !inWindow(item)) continue;
      items++;
      if (!m && options.keptFromCrm?.(item)) {
        filtered++;
        continue;
      }
      if (!m) {
        disagreements.push({ kind: 'missing', towards: 'crm', folder, itemId: item.itemId, detail: 'in the mailbox, no CRM record stands for it' });
        continue;
      }
      const record = kindRecords.get(m.crmId);
      if (!record) {
        disagreements.push({ kind: 'ghost', towards: 'exchange', folder, itemId: item.itemId, crmId: m.crmId, detail: `${m.crmId} is gone from the CRM; the item is still in the mailbox` });
        continue;
      }
      if (item.changeKey && item.changeKey !== m.changeKey && !m.knownKeys?.includes(item.changeKey)) {
        disagreements.push({ kind: 'stale', towards: 'crm', folder, itemId: item.itemId, crmId: m.crmId, detail: 'the item changed in the mailbox; the CRM record has not got that change' });
      } else if (record.version && m.crmVersion && !record.writtenBySync && options.crm.compareVersions(record.version, m.crmVersion) > 0) {
        disagreements.push({ kind: 'stale', towards: 'exchange', folder, itemId: item.itemId, crmId: m.crmId, detail: `${m.crmId} changed in the CRM; the item has not got that change` });
      }
    }
    for (const m of folderMappings) {
      if (present.has(m.itemId) || !kindRecords.has(m.crmId)) continue;
      disagreements.push({ kind: 'ghost', towards: 'crm', folder, itemId: m.itemId, crmId: m.crmId, detail: 'the item is gone from the mailbox; its CRM record is still there' });
    }
    for (const record of kindRecords.values()) {
      if (byRecord.has(record.ref)) continue;
      disagreements.push({ kind: 'unlinked', towards: 'exchange', folder, crmId: record.ref, detail: 'a CRM record of this associate that no item in the mailbox stands for' });
    }
  }
  return { mailbox, items, records: records.filter((r) => options.folders.some((f) => KIND_OF_FOLDER[f] === r.kind)).length, disagreements, ...(filtered ? { filtered } : {}) };
}
