import type { ConflictPolicy } from '../config/index.js';
import type { ExchangePort, FolderKind } from '../ews/exchange-port.js';
import { SyncError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../state/database.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import { exceptionKey, ItemMappingStore, withKnownKeys, type ItemMapping } from './item-mapping.js';
import type { Outcome } from './to-crm-handler.js';

export interface ToExchangeOptions {
  db: Database;
  stateSchema: string;
  exchange: ExchangePort;
  logger: Logger;
  privateItems: 'sync' | 'skip';
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
}

/**
 * CRM → Exchange: a user's change to an appointment or task row is created, updated or
 * deleted in the associate's mailbox (through impersonation); a created item is stamped
 * with the CRM id, so the mapping can be rebuilt from Exchange. A row version
 * (updated_count) already written changes nothing, so repeats are harmless; the item's new
 * ChangeKey is recorded, so when the change comes back from Exchange it is recognised.
 *
 * An update is written only if the item is still at the version the sync last knew; if a
 * user changed it meanwhile, both sides were edited and the conflict policy decides. A
 * delete wins over a concurrent edit on the other side. The item's mapping row is locked
 * while the item is written, so the two directions never interleave on one item.
 */
export class ToExchangeHandler {
  constructor(private readonly options: ToExchangeOptions) {}

  handle(envelope: ChangeEnvelope, key: string): Promise<Outcome> {
    if (!envelope.source.startsWith('crm:') || (envelope.type !== 'appointment' && envelope.type !== 'task')) return Promise.resolve('skipped');
    const crmId = Number(/^appointment:(\d+)$/.exec(envelope.subject)?.[1]);
    if (!Number.isInteger(crmId)) return Promise.resolve('skipped');
    return this.begin(envelope, crmId).then((firstAttempt) =>
      this.options.db.transaction((tx) => this.apply(new ItemMappingStore(tx, this.options.stateSchema), envelope, crmId, key, firstAttempt)));
  }

  /**
   * A row that may be created in a mailbox gets a note first, committed on its own: if the
   * process dies between CreateItem and saving the mapping, the next attempt looks for the
   * stamped item instead of creating a second one. False when such a note was there.
   */
  private async begin(envelope: ChangeEnvelope, crmId: number): Promise<boolean> {
    if (envelope.op === 'd' || !envelope.after || envelope.after.seriesId) return true;
    const mappings = new ItemMappingStore(this.options.db, this.options.stateSchema);
    const existing = await mappings.getByCrmId(crmId);
    if (existing && !existing.deleted) return true;
    return mappings.beginCreate(crmId, envelope.after.associateEmail ?? '');
  }

  private async apply(mappings: ItemMappingStore, envelope: ChangeEnvelope, crmId: number, key: string, firstAttempt: boolean): Promise<Outcome> {
    const { exchange } = this.options;
    const folder: FolderKind = envelope.type === 'task' ? 'tasks' : 'calendar';
    const found = await mappings.getByCrmId(crmId, true);
    const mapping = found && !found.deleted ? found : undefined;
    const after = envelope.after;
    if (after?.seriesId || mapping?.itemId.includes('@')) return this.applyException(mappings, envelope, crmId, mapping);
    const hidden = !!after?.private && this.options.privateItems === 'skip';
    if (envelope.op === 'd' || hidden) {
      if (!mapping) return 'unchanged';
      await exchange.deleteItem(mapping.mailbox, mapping.itemId);
      await mappings.save({ ...mapping, deleted: true, deletedBy: hidden ? 'private' : 'crm' });
      return 'applied';
    }
    // the item was deleted in Exchange: that delete wins over this edit (the row goes too)
    if (found?.deleted && found.deletedBy === 'exchange') return 'unchanged';
    const mailbox = after?.associateEmail ?? key;
    if (!after || !mailbox.includes('@')) return 'skipped';
    const version = Number(after.version ?? 0);
    if (mapping && mapping.crmVersion >= version) return 'unchanged'; // written already (a repeat, or our own write)
    if (!mapping) {
      const earlier = firstAttempt ? undefined : await exchange.findStamped(mailbox, folder, envelope.subject);
      const created = earlier ?? (await exchange.createItem(mailbox, folder, after, envelope.subject));
      await mappings.save({
        mailbox, itemId: created.itemId, crmId, changeKey: created.changeKey, crmVersion: earlier ? -1 : version, logPartition: -1, logOffset: -1, deleted: false,
      });
      await mappings.endCreate(crmId);
      this.options.logger.debug({ mailbox, crmId, adopted: !!earlier, event: 'to-exchange.created' }, earlier ? 'found the item an interrupted attempt created' : 'created in the mailbox');
      // an adopted item may lack this version's fields: written now, as an update
      return earlier ? this.apply(mappings, envelope, crmId, key, true) : 'applied';
    }
    let outcome = await exchange.updateItem(mapping.mailbox, folder, mapping.itemId, after, mapping.changeKey);
    if (outcome.status === 'missing') return 'unchanged'; // deleted in Exchange meanwhile: the delete wins
    if (outcome.status === 'conflict' && outcome.changeKey !== undefined) {
      const current = { changeKey: outcome.changeKey, modified: outcome.modified };
      const policy = this.options.conflict ?? 'last-writer-wins';
      const exchangeFirst = exchangeWins(policy, current.modified, after.modified);
      // already overruled when the to-crm handler met this conflict first: reported there
      if (!mapping.knownKeys?.includes(current.changeKey)) reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-exchange', mailbox: mapping.mailbox, itemId: mapping.itemId, crmId, exchangeModified: current.modified, crmModified: after.modified }, this.options.onConflict);
      if (exchangeFirst) {
        // the Exchange edit is on its way to the CRM and will overwrite this row version
        await mappings.save({ ...mapping, crmVersion: version });
        return 'unchanged';
      }
      outcome = await exchange.updateItem(mapping.mailbox, folder, mapping.itemId, after, current.changeKey);
      if (outcome.status === 'updated') {
        await mappings.save({
          ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping, current.changeKey),
          overruledUpTo: Math.max(mapping.overruledUpTo ?? 0, current.modified ? Date.parse(current.modified) : 0) || undefined,
        });
        return 'applied';
      }
    }
    if (outcome.status !== 'updated') {
      if (outcome.status === 'missing') return 'unchanged';
      // changed again between our read and our write: try the whole decision again
      throw new SyncError('ItemChangedDuringUpdate', `the item ${mapping.itemId} of ${mapping.mailbox} changed while it was written`, { retriable: true });
    }
    await mappings.save({ ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping) });
    return 'applied';
  }

  /** An exception row of a series: its occurrence in the series is changed, or deleted with the row. */
  private async applyException(mappings: ItemMappingStore, envelope: ChangeEnvelope, crmId: number, mapping: ItemMapping | undefined): Promise<Outcome> {
    const after = envelope.after;
    const at = mapping?.itemId.lastIndexOf('@') ?? -1;
    const seriesItemId = mapping && at > 0 ? mapping.itemId.slice(0, at) : undefined;
    const series = seriesItemId !== undefined ? await mappings.get(mapping!.mailbox, seriesItemId, true) : await mappings.getByCrmId(after!.seriesId!, true);
    if (!series || series.deleted) return 'unchanged'; // the series is gone, and its occurrences with it
    const originalStart = mapping ? mapping.itemId.slice(at + 1) : after!.originalStart;
    if (!originalStart) return 'skipped';
    const version = Number(after?.version ?? 0);
    if (envelope.op !== 'd' && mapping && mapping.crmVersion >= version) return 'unchanged';
    const changeKey = await this.options.exchange.updateOccurrence(series.mailbox, series.itemId, originalStart, envelope.op === 'd' ? null : after!);
    if (changeKey === undefined) return 'unchanged'; // that occurrence no longer exists
    if (envelope.op === 'd') {
      // the series now has one more deleted occurrence: left to come back from Exchange, so
      // the series' row gets the EXDATE
      if (mapping) await mappings.save({ ...mapping, deleted: true, deletedBy: 'crm' });
      return 'applied';
    }
    // the series' new version is our own write and changes nothing in the CRM: recognised when it comes back
    await mappings.save({ ...series, changeKey, knownKeys: withKnownKeys(series) });
    await mappings.save({ mailbox: series.mailbox, itemId: exceptionKey(series.itemId, originalStart), crmId, changeKey, crmVersion: version, logPartition: -1, logOffset: -1, deleted: false });
    return 'applied';
  }
}
