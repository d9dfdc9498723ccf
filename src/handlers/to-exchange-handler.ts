import type { ConflictPolicy, PrivateItems, SyncedField } from '../config/index.js';
import { parseCrmRef, type CrmPort, type CrmRef } from '../crm-adapter/crm-port.js';
import type { FolderKind, KeptProperties, MailboxStore } from '../exchange/index.js';
import { MeetingWriteRefused, SyncError } from '../shared/errors.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import { exceptionKey, withKnownKeys, type ItemLease, type ItemMapping, type ItemMappingStore } from './item-mapping.js';
import type { ChangeHandler, HandlingPlace, Outcome } from './change-handler.js';
import { heldBack, propertiesOf, towardsSide, type FieldDirections } from './field-directions.js';
import { typeCategoryOf, type CategoryTypes } from './category-types.js';
import { exchangeShapeOf, releasedSince } from './exchange-shape.js';

export interface ToExchangeOptions {
  mappings: ItemMappingStore;
  /** The CRM's versions are opaque: only the adapter orders them. `get` tells a late edit of a record gone. */
  crm: Pick<CrmPort, 'compareVersions' | 'get'>;
  exchange: MailboxStore;
  logger: Logger;
  privateItems: PrivateItems;
  /** The folders the mailbox store serves (Microsoft Graph: the calendar only, so far); others' changes are skipped. */
  folders?: readonly FolderKind[];
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
  /** A change not written because of a rule (`meeting`: a write the store would mail attendees for). */
  onPolicySkip?: (rule: 'meeting' | 'private', mailbox: string) => void;
  /** Fields that do not travel to Exchange are left as the mailbox has them (<sync><field direction>). */
  fields?: FieldDirections;
  /** Outlook categories that stand for CRM types: a record's type becomes the item's category. */
  categoryTypes?: CategoryTypes;
}

/**
 * CRM → Exchange: a user's change to an appointment or task is created, updated or deleted
 * in the associate's mailbox (through impersonation); a created item is stamped with the
 * CRM id, so the mapping can be rebuilt from Exchange. A CRM version already written
 * changes nothing, so repeats are harmless; the item's new ChangeKey is recorded, so when
 * the change comes back from Exchange it is recognised.
 *
 * An update is written only if the item is still at the version the sync last knew; if a
 * user changed it meanwhile, both sides were edited and the conflict policy decides. A
 * delete wins over a concurrent edit on the other side. The item is held (a lease on its
 * mapping, no database connection) while it is written, so the two directions never
 * interleave on one item.
 */
export class ToExchangeHandler implements ChangeHandler {
  constructor(private readonly options: ToExchangeOptions) {}

  accepts(envelope: ChangeEnvelope): boolean {
    return envelope.source.startsWith('crm:') && (envelope.type === 'appointment' || envelope.type === 'task');
  }

  /** `at`: where the message is, or its key alone (the owner's mailbox). */
  async handle(envelope: ChangeEnvelope, at: HandlingPlace | string): Promise<Outcome> {
    if (!this.accepts(envelope)) return 'skipped';
    if (this.options.folders && !this.options.folders.includes(envelope.type === 'task' ? 'tasks' : 'calendar')) return 'skipped';
    const key = typeof at === 'string' ? at : at.key;
    const crmId = envelope.subject;
    if (parseCrmRef(crmId)?.entity !== 'appointment') return 'skipped';
    const { mappings } = this.options;
    const found = await mappings.getByCrmId(crmId);
    if (envelope.after?.seriesRef || found?.itemId.includes('@')) return this.applyException(envelope, crmId, found && !found.deleted ? found : undefined);
    const firstAttempt = await this.begin(envelope, crmId);
    return mappings.holdingByCrmId(crmId, async (held, lease) => {
      try {
        return await this.apply(envelope, crmId, key, firstAttempt, held, lease);
      } catch (err) {
        if (!(err instanceof MeetingWriteRefused) || !held) throw err;
        return this.keepMeeting(err, envelope, held, lease);
      }
    });
  }

  /**
   * The user's meeting stays as its organiser made it (writing it would mail the attendees): an
   * edit is taken as handled (the meeting's next change in Exchange overwrites the record), a
   * delete leaves the meeting in the mailbox (it gets a record again at its next change there).
   */
  private async keepMeeting(refused: MeetingWriteRefused, envelope: ChangeEnvelope, mapping: ItemMapping, lease: ItemLease | undefined): Promise<Outcome> {
    this.options.logger.info({ event: 'to-exchange.meeting-kept', mailbox: refused.mailbox, itemId: refused.itemId, crmId: envelope.subject, op: envelope.op, attendees: refused.attendees }, `${envelope.subject}: not written to ${refused.message}`);
    this.options.onPolicySkip?.('meeting', mapping.mailbox);
    await this.options.mappings.save(envelope.op === 'd' || !envelope.after ? { ...mapping, deleted: true, deletedBy: 'crm' } : { ...mapping, crmVersion: envelope.after.version ?? mapping.crmVersion }, lease);
    return 'skipped';
  }

  /**
   * A private item's blocker (private="busy") is the mailbox's: a CRM edit of it is not written
   * back (the item's next change in Outlook overwrites the record), a CRM delete leaves the
   * item where it is (it gets a blocker again at its next change).
   */
  private async keepPrivate(envelope: ChangeEnvelope, mapping: ItemMapping, lease: ItemLease | undefined): Promise<Outcome> {
    const deleted = envelope.op === 'd' || !envelope.after;
    this.options.logger.info({ event: 'to-exchange.private-kept', mailbox: mapping.mailbox, itemId: mapping.itemId, crmId: envelope.subject, op: envelope.op },
      `${envelope.subject} stands for a private item of ${mapping.mailbox} (sync@private="busy"): the CRM's ${deleted ? 'delete' : 'edit'} is not written to the mailbox`);
    this.options.onPolicySkip?.('private', mapping.mailbox);
    await this.options.mappings.save(deleted ? { ...mapping, deleted: true, deletedBy: 'crm' } : { ...mapping, crmVersion: envelope.after!.version ?? mapping.crmVersion }, lease);
    return 'skipped';
  }

  /**
   * A record that may be created in a mailbox gets a note first, committed on its own: if the
   * process dies between CreateItem and saving the mapping, the next attempt looks for the
   * stamped item instead of creating a second one. False when such a note was there.
   */
  private async begin(envelope: ChangeEnvelope, crmId: CrmRef): Promise<boolean> {
    if (envelope.op === 'd' || !envelope.after) return true;
    const existing = await this.options.mappings.getByCrmId(crmId);
    if (existing && !existing.deleted) return true;
    return this.options.mappings.beginCreate('exchange', crmId, envelope.after.associateEmail ?? '');
  }

  /** The record's type as the item's category (the mapped ones it had give way), where categories stand for types. */
  private typed(after: ItemFields | null, held: readonly SyncedField[]): ItemFields | null {
    const map = this.options.categoryTypes ?? [];
    // (<field name="categories"> not towards Exchange: the item keeps its categories)
    if (held.includes('categories')) return after;
    return after && map.length && after.crmType !== undefined ? { ...after, typeCategory: typeCategoryOf(after.crmType, map) } : after;
  }

  /** What a write to the mailbox leaves alone (fields that do not travel to Exchange). */
  private kept(held: readonly SyncedField[] = heldBack(this.options.fields, 'exchange')): KeptProperties | undefined {
    return held.length ? new Set(propertiesOf(held)) : undefined;
  }

  /** This version (or a newer one) of the record was written to Exchange already. */
  private written(mapping: ItemMapping, version: string): boolean {
    return mapping.crmVersion !== '' && this.options.crm.compareVersions(mapping.crmVersion, version) >= 0;
  }

  private async apply(envelope: ChangeEnvelope, crmId: CrmRef, key: string, firstAttempt: boolean, found: ItemMapping | undefined, lease: ItemLease | undefined): Promise<Outcome> {
    const { exchange, mappings } = this.options;
    const folder: FolderKind = envelope.type === 'task' ? 'tasks' : 'calendar';
    const mapping = found && !found.deleted ? found : undefined;
    const held = heldBack(this.options.fields, 'exchange');
    const after = this.typed(envelope.after, held);
    const hidden = !!after?.private && this.options.privateItems === 'skip';
    // (the blocker's own write coming back is no CRM edit)
    const echo = !!mapping && envelope.op !== 'd' && !!after && this.written(mapping, after.version ?? '');
    if (mapping?.blocker && !echo) return this.keepPrivate(envelope, mapping, lease);
    if (envelope.op === 'd' || hidden) {
      if (!mapping) return 'unchanged';
      await exchange.deleteItem(mapping.mailbox, mapping.itemId);
      await mappings.save({ ...mapping, deleted: true, deletedBy: hidden ? 'private' : 'crm' }, lease);
      return 'applied';
    }
    // the item was deleted in Exchange, or a category excluded took its record out of the CRM:
    // that wins over this edit, read before the record left — it must not make the item again
    if (found?.deleted && (found.deletedBy === 'exchange' || found.deletedBy === 'category')) return 'unchanged';
    // ... or the record is gone by now (a private item kept out, a delete on its way): an edit
    // read before it left makes no item
    if (found?.deleted && !(await this.options.crm.get(crmId))) return 'unchanged';
    const mailbox = after?.associateEmail ?? key;
    if (!after || !mailbox.includes('@')) return 'skipped';
    const version = after.version ?? '';
    const shape = exchangeShapeOf(held, this.options.categoryTypes ?? []);
    // a repeat, or our own write — unless the policy now lets through what the item was written without
    if (mapping && this.written(mapping, version) && !releasedSince(mapping.exchangeShape, shape)) return 'unchanged';
    if (!mapping) {
      const earlier = firstAttempt ? undefined : await exchange.findStamped(mailbox, folder, crmId);
      // a field that does not travel to Exchange starts empty there
      const created = earlier ?? (await exchange.createItem(mailbox, folder, towardsSide(after, held), crmId));
      const saved: ItemMapping = {
        // an adopted item may lack this version's fields: no version known, so it is written next
        mailbox, itemId: created.itemId, crmId, changeKey: created.changeKey, crmVersion: earlier ? '' : version, logPartition: -1, logOffset: -1, deleted: false, folder, exchangeShape: shape,
      };
      await mappings.save(saved);
      await mappings.endCreate('exchange', crmId);
      this.options.logger.debug({ mailbox, crmId, adopted: !!earlier, event: 'to-exchange.created' }, earlier ? 'found the item an interrupted attempt created' : 'created in the mailbox');
      return earlier ? this.apply(envelope, crmId, key, true, saved, undefined) : 'applied';
    }
    const keep = this.kept(held);
    let outcome = await exchange.updateItem(mapping.mailbox, folder, mapping.itemId, after, mapping.changeKey, keep);
    if (outcome.status === 'missing') return 'unchanged'; // deleted in Exchange meanwhile: the delete wins
    if (outcome.status === 'conflict' && outcome.changeKey !== undefined) {
      const current = { changeKey: outcome.changeKey, modified: outcome.modified };
      const policy = this.options.conflict ?? 'last-writer-wins';
      const exchangeFirst = exchangeWins(policy, current.modified, after.modified);
      // already overruled when the to-crm handler met this conflict first: reported there
      if (!mapping.knownKeys?.includes(current.changeKey)) reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-exchange', mailbox: mapping.mailbox, itemId: mapping.itemId, crmId, exchangeModified: current.modified, crmModified: after.modified }, this.options.onConflict);
      if (exchangeFirst) {
        // the Exchange edit is on its way to the CRM and will overwrite this record version
        await mappings.save({ ...mapping, crmVersion: version }, lease);
        return 'unchanged';
      }
      outcome = await exchange.updateItem(mapping.mailbox, folder, mapping.itemId, after, current.changeKey, keep);
      if (outcome.status === 'updated') {
        await mappings.save({
          ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping, current.changeKey), exchangeShape: shape,
          overruledUpTo: Math.max(mapping.overruledUpTo ?? 0, current.modified ? Date.parse(current.modified) : 0) || undefined,
        }, lease);
        return 'applied';
      }
    }
    if (outcome.status !== 'updated') {
      if (outcome.status === 'missing') return 'unchanged';
      // changed again between our read and our write: try the whole decision again
      throw new SyncError('ItemChangedDuringUpdate', `the item ${mapping.itemId} of ${mapping.mailbox} changed while it was written`, { retriable: true });
    }
    await mappings.save({ ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping), folder, exchangeShape: shape }, lease);
    return 'applied';
  }

  /**
   * An exception record of a series: its occurrence in the series is changed, or deleted with
   * the record. The series' item is held while its occurrence is written.
   */
  private async applyException(envelope: ChangeEnvelope, crmId: CrmRef, mapping: ItemMapping | undefined): Promise<Outcome> {
    const { mappings } = this.options;
    const after = envelope.after;
    const at = mapping?.itemId.lastIndexOf('@') ?? -1;
    const seriesItemId = mapping && at > 0 ? mapping.itemId.slice(0, at) : undefined;
    const seriesFound = seriesItemId !== undefined ? await mappings.get(mapping!.mailbox, seriesItemId) : after?.seriesRef ? await mappings.getByCrmId(after.seriesRef) : undefined;
    if (!seriesFound || seriesFound.deleted) return 'unchanged'; // the series is gone, and its occurrences with it
    return mappings.holding(seriesFound.mailbox, seriesFound.itemId, async (series, lease) => {
      if (!series || series.deleted) return 'unchanged';
      // the record's occurrence as the CRM tells it now: a series moved since the mapping was
      // saved has its occurrences elsewhere (the mapping's key is then out of date)
      const mappedStart = mapping ? mapping.itemId.slice(at + 1) : undefined;
      const originalStart = after?.originalStart ?? mappedStart;
      if (!originalStart) return 'skipped';
      const current = mapping && mappedStart === originalStart ? mapping : undefined;
      const version = after?.version ?? '';
      if (envelope.op !== 'd' && current && this.written(current, version)) return 'unchanged';
      let keys;
      try {
        keys = await this.options.exchange.updateOccurrence(series.mailbox, series.itemId, originalStart, envelope.op === 'd' ? null : after!, this.kept());
      } catch (err) {
        if (!(err instanceof MeetingWriteRefused)) throw err;
        // an occurrence of the user's meeting series: left to its organiser, as the series is
        this.options.logger.info({ event: 'to-exchange.meeting-kept', mailbox: err.mailbox, itemId: err.itemId, crmId, op: envelope.op, attendees: err.attendees }, `${crmId}: not written to ${err.message}`);
        this.options.onPolicySkip?.('meeting', series.mailbox);
        return 'skipped';
      }
      if (keys === undefined) return 'unchanged'; // that occurrence no longer exists
      if (envelope.op === 'd') {
        // the series now has one more deleted occurrence: left to come back from Exchange, so
        // the series' record gets the EXDATE
        if (mapping) await mappings.save({ ...mapping, deleted: true, deletedBy: 'crm' });
        return 'applied';
      }
      // the series' new version is our own write (recognised when it comes back) only if it was
      // written on a known version: on top of a user's edit not synced yet, it comes back as a change
      if (keys.before === series.changeKey || series.knownKeys?.includes(keys.before)) await mappings.save({ ...series, changeKey: keys.after, knownKeys: withKnownKeys(series) }, lease);
      if (mapping && !current) await mappings.save({ ...mapping, deleted: true, deletedBy: 'crm' });
      await mappings.save({ mailbox: series.mailbox, itemId: exceptionKey(series.itemId, originalStart), crmId, changeKey: keys.after, crmVersion: version, logPartition: -1, logOffset: -1, deleted: false, folder: 'calendar' });
      return 'applied';
    });
  }
}
