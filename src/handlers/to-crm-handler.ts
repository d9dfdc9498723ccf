import type { ConflictPolicy } from '../config/index.js';
import type { CrmActivity } from '../crm-adapter/crm-port.js';
import { SqlCrm } from '../crm-adapter/sql-crm.js';
import type { ExchangePort, FolderKind } from '../ews/exchange-port.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../state/database.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import { exceptionKey, ItemMappingStore, withKnownKeys, type ItemMapping } from './item-mapping.js';

export type Outcome = 'applied' | 'unchanged' | 'skipped';

export interface ToCrmOptions {
  db: Database;
  crmSchema: string;
  stateSchema: string;
  logger: Logger;
  /** Private items: sync them (marked private) or skip them. */
  privateItems: 'sync' | 'skip';
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
  /** Asked only in the rare case an envelope's age cannot be told from its LastModifiedTime. */
  exchange?: Pick<ExchangePort, 'getItems'>;
}

/**
 * Exchange → CRM: an appointment or task change of a mailbox becomes the matching row of
 * the associate whose e-mail is that mailbox. The CRM write and the mapping are one
 * transaction, and a change whose ChangeKey was already applied changes nothing — so a
 * redelivered message (crash, rebalance) is harmless. Writes are marked origin "sync"
 * and are therefore not sent back.
 *
 * If the row was also edited in the CRM since the last sync, both sides changed: the
 * conflict policy decides. A delete on either side wins over an edit on the other. A
 * meeting in several synced mailboxes (one iCalUid) becomes one row per attending
 * associate, joined by mother_id; an attendee who is a CRM person links the row to them.
 */
export class ToCrmHandler {
  constructor(private readonly options: ToCrmOptions) {}

  /** `at`: where the message is in the log; one mailbox's changes are in order on one partition. */
  handle(envelope: ChangeEnvelope, at: { partition: number; offset: number }): Promise<Outcome> {
    if (!envelope.source.startsWith('exchange:') || (envelope.type !== 'appointment' && envelope.type !== 'task')) return Promise.resolve('skipped');
    const mailbox = envelope.source.slice('exchange:'.length);
    return this.options.db.transaction((tx) => this.apply(tx, mailbox, envelope, at));
  }

  private async apply(tx: Database, mailbox: string, envelope: ChangeEnvelope, at: { partition: number; offset: number }): Promise<Outcome> {
    const crm = new SqlCrm(tx, this.options.crmSchema);
    const mappings = new ItemMappingStore(tx, this.options.stateSchema);
    const mapping = await mappings.get(mailbox, envelope.subject, true);
    const position = { logPartition: at.partition, logOffset: at.offset };
    // Already applied this change or a later one (a redelivery, or a replay of the log).
    if (mapping && mapping.logPartition === at.partition && at.offset <= mapping.logOffset) return 'unchanged';
    if (mapping?.deleted) return 'unchanged'; // an ItemId never comes back once deleted
    if (envelope.op === 'd' || (envelope.after?.private && this.options.privateItems === 'skip')) {
      if (!mapping) return 'unchanged';
      await crm.delete(mapping.crmId); // a series' exception rows go with it
      await mappings.save({ ...mapping, ...position, deleted: true, deletedBy: envelope.op === 'd' ? 'exchange' : 'private' });
      await mappings.tombstoneExceptions(mailbox, mapping.itemId);
      return 'applied';
    }
    const after = envelope.after!;
    const changeKey = after.version ?? '';
    // A series' modified occurrences are objects of their own in Exchange: they follow the
    // mailbox even when the series' fields do not (our own write, an overruled version).
    const occurrencesOnly = async (m: ItemMapping, known?: CrmActivity): Promise<void> => {
      if (after.recurrence) {
        const row = known ?? (await crm.get(m.crmId));
        if (row) await this.syncExceptions(crm, mappings, mailbox, envelope.subject, m.crmId, row.associateId, { ...row.fields, recurrence: after.recurrence });
      }
    };
    if (mapping && (mapping.changeKey === changeKey || mapping.knownKeys?.includes(changeKey))) {
      const row = after.recurrence ? await crm.get(mapping.crmId) : undefined;
      const own = row && mapping.changeKey === changeKey ? await this.deletedOccurrencesFollow(crm, mapping, row, after) : undefined;
      await mappings.save({ ...mapping, ...position, ...(own !== undefined ? { crmVersion: own } : {}) });
      await occurrencesOnly(mapping, row);
      return 'unchanged'; // this version again (our own write coming back, or a version since overruled)
    }
    if (mapping && (await this.overruled(mapping, envelope))) {
      await mappings.save({ ...mapping, ...position, knownKeys: withKnownKeys(mapping, changeKey) });
      await occurrencesOnly(mapping);
      return 'unchanged';
    }
    const associateId = await crm.associateIdByEmail(mailbox);
    if (associateId === undefined) {
      this.options.logger.debug({ mailbox, event: 'to-crm.no-associate' }, 'the mailbox is not an active associate; change skipped');
      return 'skipped';
    }
    const fields: ItemFields = { ...after, ...(envelope.type === 'appointment' ? await this.links(crm, after) : {}) };
    if (mapping) {
      const row = await crm.get(mapping.crmId);
      // deleted in the CRM meanwhile: that delete wins (it is on its way to the mailbox)
      if (!row) return 'unchanged';
      if (row.version > mapping.crmVersion) {
        const policy = this.options.conflict ?? 'last-writer-wins';
        const exchangeFirst = exchangeWins(policy, after.modified, row.fields.modified);
        reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-crm', mailbox, itemId: envelope.subject, crmId: row.id, exchangeModified: after.modified, crmModified: row.fields.modified }, this.options.onConflict);
        if (!exchangeFirst) {
          // the CRM edit is on its way to the mailbox and will overwrite this version
          await mappings.save({ ...mapping, ...position, knownKeys: withKnownKeys(mapping, changeKey) });
          await occurrencesOnly(mapping);
          return 'unchanged';
        }
      }
      const version = await crm.update(mapping.crmId, fields);
      await mappings.save({ ...mapping, ...position, changeKey, crmVersion: version ?? mapping.crmVersion, knownKeys: withKnownKeys(mapping), iCalUid: after.iCalUid });
      await this.syncExceptions(crm, mappings, mailbox, envelope.subject, mapping.crmId, associateId, fields);
      return 'applied';
    }
    // Created by the sync from the CRM (stamped with the CRM id) and its mapping not seen
    // yet, or the mapping store was lost: link to that row instead of creating another.
    const stamped = Number(/^appointment:(\d+)$/.exec(after.crmId ?? '')?.[1]);
    if (Number.isInteger(stamped) && (await crm.get(stamped))) {
      const linked = await mappings.getByCrmId(stamped);
      if (linked && !linked.deleted && linked.mailbox === mailbox && linked.itemId === envelope.subject && linked.changeKey === changeKey) return 'unchanged';
      const version = await crm.update(stamped, fields);
      await mappings.save({ mailbox, itemId: envelope.subject, crmId: stamped, changeKey, crmVersion: version ?? 0, ...position, deleted: false, iCalUid: after.iCalUid });
      await mappings.endCreate(stamped); // a create cut short is finished: its item is linked
      await this.syncExceptions(crm, mappings, mailbox, envelope.subject, stamped, associateId, fields);
      return 'applied';
    }
    const motherId = after.iCalUid ? await this.meetingMother(crm, mappings, after.iCalUid, mailbox) : undefined;
    const created = await crm.insert(associateId, envelope.type === 'task' ? 2 : 1, { ...fields, ...(motherId !== undefined ? { motherId } : {}) });
    await mappings.save({ mailbox, itemId: envelope.subject, crmId: created.id, changeKey, crmVersion: created.version, ...position, deleted: false, iCalUid: after.iCalUid });
    await this.syncExceptions(crm, mappings, mailbox, envelope.subject, created.id, associateId, fields);
    return 'applied';
  }

  /**
   * Our own write of a series coming back: Exchange may have discarded deleted occurrences
   * the series' new times orphaned. The row's EXDATEs follow (a write of the sync's own), but
   * only while no CRM edit of the row is pending. Returns the row's new version, if written.
   */
  private async deletedOccurrencesFollow(crm: SqlCrm, mapping: ItemMapping, row: CrmActivity, after: ItemFields): Promise<number | undefined> {
    if (!after.recurrence || !row.fields.recurrence || row.version !== mapping.crmVersion) return undefined;
    const same = [...row.fields.recurrence.exdates].sort().join() === [...after.recurrence.exdates].sort().join();
    if (same) return undefined;
    return crm.update(row.id, { ...row.fields, recurrence: { ...row.fields.recurrence, exdates: after.recurrence.exdates } });
  }

  /**
   * Is this envelope a version the CRM already won over in a conflict? Exchange keeps
   * LastModifiedTime to the second: an older second is certain; within the same second
   * only Exchange can tell, so it is asked whether the envelope is still the current version
   * (if not, a newer envelope follows in the log).
   */
  private async overruled(mapping: ItemMapping, envelope: ChangeEnvelope): Promise<boolean> {
    const modified = envelope.after?.modified ? Date.parse(envelope.after.modified) : Number.NaN;
    if (mapping.overruledUpTo === undefined || Number.isNaN(modified)) return false;
    if (modified < mapping.overruledUpTo) return true;
    if (modified > mapping.overruledUpTo || !this.options.exchange) return false;
    const folder: FolderKind = envelope.type === 'task' ? 'tasks' : 'calendar';
    const [current] = await this.options.exchange.getItems(mapping.mailbox, folder, [mapping.itemId]);
    return current?.item?.version !== envelope.after?.version;
  }

  /**
   * A series' modified occurrences as exception rows (series_id, original_start), one per
   * occurrence, each with a mapping keyed "<series ItemId>@<original start>" so the CRM's
   * edits of them find the occurrence and their versions are known; rows of occurrences no
   * longer modified go.
   */
  private async syncExceptions(crm: SqlCrm, mappings: ItemMappingStore, mailbox: string, masterItemId: string, seriesId: number, associateId: number, master: ItemFields): Promise<void> {
    const wanted = master.recurrence?.exceptions ?? [];
    const existing = await crm.exceptionRows(seriesId);
    if (!wanted.length && !existing.size) return;
    const base: ItemFields = { ...master, recurrence: null, iCalUid: undefined, crmId: undefined, seriesId };
    for (const occurrence of wanted) {
      const fields: ItemFields = {
        ...base, subject: occurrence.subject ?? master.subject, location: occurrence.location ?? master.location, start: occurrence.start, end: occurrence.end, originalStart: occurrence.originalStart,
      };
      const itemId = exceptionKey(masterItemId, occurrence.originalStart);
      const row = existing.get(occurrence.originalStart);
      existing.delete(occurrence.originalStart);
      // EWS names a modified occurrence's times, not its subject: a row's title and place
      // are the CRM's once the row exists
      if (row && row.fields.start === fields.start && row.fields.end === fields.end) continue;
      const written = row ? { id: row.id, version: await crm.update(row.id, { ...row.fields, start: fields.start, end: fields.end }) } : await crm.insert(associateId, 1, fields);
      await mappings.save({ mailbox, itemId, crmId: written.id, changeKey: master.version ?? '', crmVersion: written.version ?? 0, logPartition: -1, logOffset: -1, deleted: false });
    }
    for (const [originalStart, row] of existing) {
      await crm.delete(row.id);
      const m = await mappings.get(mailbox, exceptionKey(masterItemId, originalStart));
      if (m) await mappings.save({ ...m, deleted: true, deletedBy: 'exchange' });
    }
  }

  /** person_id/contact_id from the first attendee (or the organizer) who is a CRM person. */
  private async links(crm: SqlCrm, after: ItemFields): Promise<Partial<ItemFields>> {
    const emails = [...(after.attendees ?? []).map((a) => a.email), ...(after.organizer ? [after.organizer] : [])];
    if (!emails.length) return {};
    const person = await crm.personByEmail(emails);
    return person ? { personId: person.personId, contactId: person.contactId } : {};
  }

  /** The mother row of a meeting other synced mailboxes already hold (made the mother if it was alone). */
  private async meetingMother(crm: SqlCrm, mappings: ItemMappingStore, iCalUid: string, mailbox: string): Promise<number | undefined> {
    // the attendees' copies arrive on different partitions at once: one at a time per meeting
    await mappings.lockMeeting(iCalUid);
    for (const other of await mappings.meetingRows(iCalUid, mailbox)) {
      const row = await crm.get(other.crmId);
      if (!row) continue;
      if (row.fields.motherId) return row.fields.motherId;
      const version = await crm.setMother(row.id, row.id);
      // the sync's own write: the item did not change, so the mapping moves on with the row
      if (version !== undefined) await mappings.setCrmVersion(row.id, version);
      return row.id;
    }
    return undefined;
  }
}
