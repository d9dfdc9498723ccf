import type { ConflictPolicy, PrivateItems } from '../config/index.js';
import type { CrmActivity, CrmPort, CrmRef } from '../crm-adapter/crm-port.js';
import type { FolderKind, MailboxStore } from '../exchange/index.js';
import { SyncError } from '../shared/errors.js';
import type { ItemFields, RecurrenceException } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import type { ChangeHandler, Outcome } from './change-handler.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import { backInMailbox } from './back-in-mailbox.js';
import { readBeforeMove, type PositionKindOf } from './moved-mailbox.js';
import { exchangeStamp } from './exchange-stamp.js';
import { exceptionKey, withKnownKeys, type ItemLease, type ItemMapping, type ItemMappingStore } from './item-mapping.js';
import { blockerOf, verdictOf, type ItemPolicy } from './item-policy.js';
import { heldBack, towardsSide, type FieldDirections } from './field-directions.js';
import { typeToWrite, type CategoryTypes } from './category-types.js';


export interface ToCrmOptions {
  crm: CrmPort;
  mappings: ItemMappingStore;
  logger: Logger;
  /** Private items: sync them (marked private), skip them, or give the CRM a blocker. */
  privateItems: PrivateItems;
  /** Outlook categories an item must have one of / none of to reach the CRM. */
  categories?: ItemPolicy['categories'];
  /** An item kept from the CRM by a rule (its record removed, or never made). */
  onPolicySkip?: (rule: 'private' | 'category', mailbox: string) => void;
  /** none: a meeting's attendees and organiser are not carried to the CRM (no person links, no participants). */
  attendees?: 'link' | 'none';
  /** Fields that do not travel to the CRM keep the record's values (<sync><field direction>). */
  fields?: FieldDirections;
  /** Outlook categories that stand for CRM types (<sync><category outlook crm>). */
  categoryTypes?: CategoryTypes;
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
  /** The position kind a mailbox is read with now: a change read before a move is skipped, not taken for a new item. */
  positionKindOf?: PositionKindOf;
  /** Asked only in the rare case an envelope's age cannot be told from its LastModifiedTime. */
  exchange?: Pick<MailboxStore, 'getItems'>;
}

/**
 * Exchange → CRM: an appointment or task change of a mailbox becomes the matching record of
 * the associate whose e-mail is that mailbox. The CRM is written first, then the mapping; a
 * change whose ChangeKey or log place was already applied changes nothing, and a write the
 * mapping missed (a crash in between) is recognised as the sync's own, so a redelivered
 * message (crash, rebalance) is harmless. A create is noted first and stamps the record,
 * so a create cut short is finished instead of done twice. The CRM does not send the
 * sync's own writes back.
 *
 * If the record was also edited in the CRM since the last sync, both sides changed: the
 * conflict policy decides. A delete on either side wins over an edit on the other. A
 * meeting in several synced mailboxes (one iCalUid) becomes one record per attending
 * associate, joined to a mother record; an attendee who is a CRM person links the record.
 */
export class ToCrmHandler implements ChangeHandler {
  constructor(private readonly options: ToCrmOptions) {}

  accepts(envelope: ChangeEnvelope): boolean {
    return envelope.source.startsWith('exchange:') && (envelope.type === 'appointment' || envelope.type === 'task');
  }

  /**
   * `at`: where the message is in the log; one mailbox's changes are in order on one partition.
   * The mapping (with `at`) is saved last: a message whose place it holds is done, so whatever
   * the change implies (a series' exception records, its exceptions' tombstones) is written first.
   */
  handle(envelope: ChangeEnvelope, at: { partition: number; offset: number }): Promise<Outcome> {
    if (!this.accepts(envelope)) return Promise.resolve('skipped');
    const mailbox = envelope.source.slice('exchange:'.length);
    return this.options.mappings.holding(mailbox, envelope.subject, (mapping, lease) => this.apply(mailbox, envelope, at, mapping, lease));
  }

  private async apply(mailbox: string, envelope: ChangeEnvelope, at: { partition: number; offset: number }, mapping: ItemMapping | undefined, lease: ItemLease): Promise<Outcome> {
    const { crm, mappings } = this.options;
    const position = { logPartition: at.partition, logOffset: at.offset };
    // Already applied this change or a later one (a redelivery, or a replay of the log).
    if (mapping && mapping.logPartition === at.partition && at.offset <= mapping.logOffset) return 'unchanged';
    const verdict = envelope.after ? verdictOf(envelope.after, { private: this.options.privateItems, categories: this.options.categories }) : { action: 'sync' as const };
    const hidden = verdict.action === 'hide';
    if (hidden) this.options.onPolicySkip?.(verdict.rule, mailbox);
    if (mapping?.deleted) {
      // a late copy of a deleted item changes nothing; an item back in the mailbox is an item
      // again and gets a record again (a record the CRM deleted left the mailbox with it)
      if (envelope.op === 'd' || hidden || !(await backInMailbox(this.options.exchange, mapping))) return 'unchanged';
      this.options.logger.info({ mailbox, itemId: envelope.subject, deletedBy: mapping.deletedBy, event: 'to-crm.item-back' }, 'an item the sync had seen deleted is in the mailbox again: it gets a CRM record again');
      return this.apply(mailbox, envelope, at, undefined, lease);
    }
    if (envelope.op === 'd' || hidden) {
      if (!mapping) return 'unchanged';
      await crm.delete(mapping.crmId); // a series' exceptions go with it
      await mappings.tombstoneExceptions(mailbox, mapping.itemId);
      await mappings.save({ ...mapping, ...position, deleted: true, deletedBy: verdict.action === 'hide' && envelope.op !== 'd' ? verdict.rule : 'exchange' }, lease);
      return 'applied';
    }
    // private="busy": the CRM gets the time and "Private", nothing else (the stamp still links it)
    const blocker = verdict.action === 'blocker';
    const held = heldBack(this.options.fields, 'crm');
    const shape = shapeOf(held, this.options.categoryTypes ?? []);
    const after = blocker ? { ...blockerOf(envelope.after!), ...(envelope.after!.crmId ? { crmId: envelope.after!.crmId } : {}) } : envelope.after!;
    const changeKey = after.version ?? '';
    const folder: FolderKind = envelope.type === 'task' ? 'tasks' : 'calendar';
    // A series' modified occurrences are objects of their own in Exchange: they follow the
    // mailbox even when the series' fields do not (our own write, an overruled version).
    const occurrencesOnly = async (m: ItemMapping, known?: CrmActivity): Promise<void> => {
      if (!after.recurrence) return;
      const record = known ?? (await crm.get(m.crmId));
      if (record) await this.syncExceptions(mailbox, envelope.subject, m.crmId, record.owner, { ...record.fields, recurrence: after.recurrence });
    };
    // (a version already applied, unless the policy now shapes its record otherwise: a change
    // read again by a resync turns records into blockers and back, keeps other fields, types them)
    if (mapping && !!mapping.blocker === blocker && (mapping.shape ?? '') === shape && (mapping.changeKey === changeKey || mapping.knownKeys?.includes(changeKey))) {
      const current = mapping.changeKey === changeKey;
      const record = after.recurrence && current ? await crm.get(mapping.crmId) : undefined;
      const own = record ? await this.deletedOccurrencesFollow(mapping, record, after) : undefined;
      // this version again (our own write coming back): its occurrences are the mailbox's; an
      // older version's (a late copy, a version since overruled) would undo newer exceptions
      if (current) await occurrencesOnly(mapping, record);
      await mappings.save({ ...mapping, ...position, ...(own !== undefined ? { crmVersion: own } : {}) }, lease);
      return 'unchanged';
    }
    if (mapping && (await this.overruled(mapping, envelope))) {
      await occurrencesOnly(mapping);
      await mappings.save({ ...mapping, ...position, knownKeys: withKnownKeys(mapping, changeKey) }, lease);
      return 'unchanged';
    }
    const associate = await crm.associateByEmail(mailbox);
    if (!associate) {
      this.options.logger.debug({ mailbox, event: 'to-crm.no-associate' }, 'the mailbox is not an active associate; change skipped');
      return 'skipped';
    }
    const carried = this.options.attendees === 'none' || held.includes('attendees') ? withoutAttendees(after) : after;
    const incoming: ItemFields = { ...carried, ...(envelope.type === 'appointment' ? await this.links(carried) : {}) };
    // a field that does not travel to the CRM keeps the record's value (a new record: none);
    // the record's type follows the item's mapped category
    const shaped = (current?: ItemFields): ItemFields => {
      const out = towardsSide(incoming, held, current);
      // (<field name="categories"> not towards the CRM: the record keeps its type)
      const type = held.includes('categories') ? undefined : typeToWrite(after.categories, this.options.categoryTypes ?? [], current);
      return type === undefined ? out : { ...out, crmType: type };
    };
    let fields = shaped();
    const saved = { changeKey, ...position, deleted: false, iCalUid: after.iCalUid, folder, blocker, shape: shape || undefined };
    if (mapping) {
      const record = await crm.get(mapping.crmId);
      // deleted in the CRM meanwhile: that delete wins (it is on its way to the mailbox)
      if (!record) return 'unchanged';
      fields = shaped(record.fields);
      // edited in the CRM since the last sync (a version the sync wrote itself is no edit: a
      // write whose mapping a crash kept from being saved)
      if (record.version !== mapping.crmVersion && !record.writtenBySync) {
        const policy = this.options.conflict ?? 'last-writer-wins';
        const exchangeFirst = exchangeWins(policy, after.modified, record.fields.modified);
        reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-crm', mailbox, itemId: envelope.subject, crmId: record.ref, exchangeModified: after.modified, crmModified: record.fields.modified }, this.options.onConflict);
        if (!exchangeFirst) {
          // the CRM edit is on its way to the mailbox and will overwrite this version
          await occurrencesOnly(mapping);
          await mappings.save({ ...mapping, ...position, knownKeys: withKnownKeys(mapping, changeKey) }, lease);
          return 'unchanged';
        }
      }
      const written = await crm.update(mapping.crmId, fields, record.version);
      if (written.status === 'missing') return 'unchanged';
      // changed again between our read and our write: try the whole decision again
      if (written.status === 'conflict') throw new SyncError('CRM_RECORD_CHANGED', `${mapping.crmId} changed while it was written`, { retriable: true });
      await this.syncExceptions(mailbox, envelope.subject, mapping.crmId, associate.ref, fields);
      await mappings.save({ ...mapping, ...saved, crmVersion: written.version, knownKeys: withKnownKeys(mapping) }, lease);
      return 'applied';
    }
    if (await readBeforeMove(this.options.positionKindOf, mailbox, envelope, this.options.logger)) return 'skipped';
    // Created by the sync from the CRM (stamped with the CRM id) and its mapping not seen
    // yet, or the mapping store was lost: link to that record instead of creating another.
    const stamped = after.crmId ? await crm.get(after.crmId) : undefined;
    if (stamped) {
      const linked = await mappings.getByCrmId(stamped.ref);
      if (linked && !linked.deleted && linked.mailbox === mailbox && linked.itemId === envelope.subject && linked.changeKey === changeKey) return 'unchanged';
      fields = shaped(stamped.fields);
      const written = await crm.update(stamped.ref, fields);
      await this.syncExceptions(mailbox, envelope.subject, stamped.ref, associate.ref, fields);
      await mappings.save({ mailbox, itemId: envelope.subject, crmId: stamped.ref, crmVersion: written.status === 'written' ? written.version : stamped.version, ...saved }, lease);
      await mappings.endCreate('exchange', stamped.ref); // a create cut short is finished: its item is linked
      return 'applied';
    }
    // A new record: noted first, stamped, so a create cut short is found, not done twice.
    const stamp = exchangeStamp(mailbox, envelope.subject);
    const firstAttempt = await mappings.beginCreate('crm', stamp, mailbox);
    const kind = envelope.type === 'task' ? 'task' : 'appointment';
    const earlier = firstAttempt ? undefined : await crm.findStamped(stamp, { owner: associate.ref, kind, fields });
    let created: { ref: CrmRef; version: string };
    if (earlier) {
      fields = shaped(earlier.fields);
      const written = await crm.update(earlier.ref, fields);
      created = { ref: earlier.ref, version: written.status === 'written' ? written.version : earlier.version };
      this.options.logger.debug({ mailbox, crmId: earlier.ref, event: 'to-crm.adopted' }, 'found the record an interrupted attempt created');
    } else {
      created = await crm.create(associate.ref, kind, fields, stamp);
    }
    await this.syncExceptions(mailbox, envelope.subject, created.ref, associate.ref, fields);
    await mappings.save({ mailbox, itemId: envelope.subject, crmId: created.ref, crmVersion: created.version, ...saved }, lease);
    await mappings.endCreate('crm', stamp);
    if (after.iCalUid) await this.joinMeeting(after.iCalUid);
    return 'applied';
  }

  /**
   * Our own write of a series coming back: Exchange may have discarded deleted occurrences
   * the series' new times orphaned. The record's EXDATEs follow (a write of the sync's own),
   * but only while no CRM edit of it is pending. Returns the record's new version, if written.
   */
  private async deletedOccurrencesFollow(mapping: ItemMapping, record: CrmActivity, after: ItemFields): Promise<string | undefined> {
    if (!after.recurrence || !record.fields.recurrence) return undefined;
    const crmDates = record.fields.recurrence.exdates;
    // The record as the sync left it: Exchange's deleted occurrences, exactly.
    // Changed since by the sync alone (an exception row written after the series): Exchange's
    // deleted occurrences are added — Exchange never brings one back, so they are deletes the
    // CRM must get, and a CRM user's own deletes (perhaps not in the mailbox yet) stay. The
    // mapping keeps its version then, so a user's change still on its way is written.
    // Edited by a user since: nothing here; that edit's own echo comes back to this place.
    const exact = record.version === mapping.crmVersion;
    if (!exact && !record.writtenBySync) return undefined;
    const exdates = exact ? [...after.recurrence.exdates] : [...new Set([...crmDates, ...after.recurrence.exdates])];
    if ([...crmDates].sort().join() === [...exdates].sort().join()) return undefined;
    const written = await this.options.crm.update(record.ref, { ...record.fields, recurrence: { ...record.fields.recurrence, exdates } }, record.version);
    return exact && written.status === 'written' ? written.version : undefined;
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
   * A series' modified occurrences as exception records (seriesRef, originalStart), one per
   * occurrence, each with a mapping keyed "<series ItemId>@<original start>" so the CRM's
   * edits of them find the occurrence and their versions are known; records of occurrences
   * no longer modified go. Found again by the series, so a crash in between repeats nothing.
   */
  private async syncExceptions(mailbox: string, masterItemId: string, seriesRef: CrmRef, owner: CrmRef, master: ItemFields): Promise<void> {
    const { crm, mappings } = this.options;
    const wanted = master.recurrence?.exceptions ?? [];
    const existing = await crm.exceptions(seriesRef);
    if (!wanted.length && !existing.size) return;
    const base: ItemFields = { ...master, recurrence: null, iCalUid: undefined, crmId: undefined, seriesRef };
    for (const occurrence of wanted) {
      const fields: ItemFields = {
        ...base, subject: occurrence.subject ?? master.subject, location: occurrence.location ?? master.location, start: occurrence.start, end: occurrence.end, originalStart: occurrence.originalStart,
      };
      const itemId = exceptionKey(masterItemId, occurrence.originalStart);
      const record = existing.get(occurrence.originalStart);
      existing.delete(occurrence.originalStart);
      if (record && sameOccurrence(record.fields, occurrence)) continue;
      // edited in the CRM since the sync last wrote it: that edit is on its way to the mailbox
      if (record && (await this.editedInCrm(mailbox, itemId, record))) continue;
      let written: { ref: CrmRef; version: string };
      if (record) {
        const w = await crm.update(record.ref, { ...record.fields, subject: fields.subject, location: fields.location, start: fields.start, end: fields.end });
        written = { ref: record.ref, version: w.status === 'written' ? w.version : record.version };
      } else {
        written = await crm.create(owner, 'appointment', fields, exchangeStamp(mailbox, itemId));
      }
      await mappings.save({ mailbox, itemId, crmId: written.ref, changeKey: master.version ?? '', crmVersion: written.version, logPartition: -1, logOffset: -1, deleted: false, folder: 'calendar' });
    }
    for (const [originalStart, record] of existing) {
      const itemId = exceptionKey(masterItemId, originalStart);
      // an exception the mailbox does not know yet is not undone
      if (await this.editedInCrm(mailbox, itemId, record)) continue;
      await crm.restoreOccurrence(record.ref);
      const m = await mappings.get(mailbox, itemId);
      if (m) await mappings.save({ ...m, deleted: true, deletedBy: 'exchange' });
    }
  }

  /** A CRM user wrote the exception record after the sync did (or the sync never did). */
  private async editedInCrm(mailbox: string, itemId: string, record: CrmActivity): Promise<boolean> {
    if (record.writtenBySync) return false;
    const m = await this.options.mappings.get(mailbox, itemId);
    return !m || m.deleted || m.crmVersion !== record.version;
  }

  /** The person and company of the first attendee (or the organizer) who is a CRM person. */
  private async links(after: ItemFields): Promise<Partial<ItemFields>> {
    const emails = [...(after.attendees ?? []).map((a) => a.email), ...(after.organizer ? [after.organizer] : [])];
    if (!emails.length) return {};
    const person = await this.options.crm.personByEmail(emails);
    return person ? { personRef: person.personRef, contactRef: person.contactRef } : {};
  }

  /**
   * The copies of one meeting (same iCalUid) in several synced mailboxes: every record gets
   * the first mapped one as its mother. Run after each new mapping is saved, so whichever
   * copy is saved last sees them all, and copies saved at the same moment end alike.
   */
  private async joinMeeting(iCalUid: string): Promise<void> {
    const { crm, mappings } = this.options;
    const copies = await mappings.meetingRows(iCalUid);
    if (copies.length < 2) return;
    const mother = copies[0].crmId;
    for (const copy of copies) {
      const record = await crm.get(copy.crmId);
      if (!record || record.fields.motherRef === mother) continue;
      const version = await crm.setMother(copy.crmId, mother);
      // the sync's own write: the item did not change, so the mapping moves on with the record
      if (version !== undefined) await mappings.setCrmVersion(copy.crmId, record.version, version);
    }
  }
}

/** The exception record already has the occurrence's times and (where Exchange named them) title and place. */
function sameOccurrence(record: ItemFields, occurrence: RecurrenceException): boolean {
  return (
    record.start === occurrence.start && record.end === occurrence.end &&
    (occurrence.subject === undefined || (record.subject ?? '') === occurrence.subject) &&
    (occurrence.location === undefined || (record.location ?? '') === occurrence.location)
  );
}

/** The item without who was invited: <sync attendees="none">. */
function withoutAttendees(fields: ItemFields): ItemFields {
  const { attendees: _attendees, organizer: _organizer, ...rest } = fields;
  return rest;
}

/** What of the policy shapes a record beyond the privacy rule: the fields kept from the CRM, the type pairs ('' for neither). */
function shapeOf(held: readonly string[], types: CategoryTypes): string {
  return held.length || types.length ? JSON.stringify([[...held].sort(), types.map((t) => [t.outlook.toLowerCase(), t.crm.toLowerCase()])]) : '';
}
