import type { ConflictPolicy } from '../config/index.js';
import { parseCrmRef, type CrmPort, type CrmRef } from '../crm-adapter/crm-port.js';
import type { MailboxStore } from '../exchange/index.js';
import { assertContactCard } from '../shared/contact-card.js';
import { SyncError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import type { ChangeHandler, Outcome } from './change-handler.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import { withKnownKeys, type ItemLease, type ItemMapping, type ItemMappingStore } from './item-mapping.js';
import type { SelectionFolderStore } from './selection-folders.js';

export interface ContactsToExchangeOptions {
  mappings: ItemMappingStore;
  selections: SelectionFolderStore;
  crm: Pick<CrmPort, 'compareVersions'>;
  exchange: MailboxStore;
  logger: Logger;
  /** Persons go to their owner's Contacts folder (`<sync items>` has contacts); else only their selection copies follow. */
  ownedContacts: boolean;
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
}

/**
 * CRM → Exchange for persons: a person is a contact in the Contacts folder of the associate
 * who owns it (created, changed, deleted; moved to the new owner's mailbox when the owner
 * changes), stamped with the person's id. Writes are conditional on the ChangeKey the sync
 * last knew; a user's edit since is a conflict the policy decides. Every copy of the person
 * in a selection folder follows too (those are the sync's own, written as the CRM has them).
 */
export class ContactsToExchange implements ChangeHandler {
  constructor(private readonly options: ContactsToExchangeOptions) {}

  accepts(envelope: ChangeEnvelope): boolean {
    return envelope.source.startsWith('crm:') && envelope.type === 'contact';
  }

  async handle(envelope: ChangeEnvelope): Promise<Outcome> {
    const personRef = envelope.subject;
    if (parseCrmRef(personRef)?.entity !== 'person') return 'skipped';
    const owned = this.options.ownedContacts
      ? await this.options.mappings.holdingByCrmId(personRef, (found, lease) => this.applyOwned(envelope, personRef, found, lease))
      : 'skipped';
    const copies = await this.followCopies(envelope, personRef);
    return owned === 'applied' || copies ? 'applied' : owned;
  }

  private written(mapping: ItemMapping, version: string): boolean {
    return mapping.crmVersion !== '' && this.options.crm.compareVersions(mapping.crmVersion, version) >= 0;
  }

  private async applyOwned(envelope: ChangeEnvelope, personRef: CrmRef, found: ItemMapping | undefined, lease: ItemLease | undefined): Promise<Outcome> {
    const { exchange, mappings } = this.options;
    const mapping = found && !found.deleted ? found : undefined;
    const after = envelope.after;
    const owner = after?.associateEmail?.toLowerCase();
    if (envelope.op === 'd' || !after || (mapping && mapping.mailbox !== owner)) {
      // deleted, or given to another associate: it leaves the old owner's contacts
      if (mapping) {
        await exchange.deleteItem(mapping.mailbox, mapping.itemId);
        await mappings.save({ ...mapping, deleted: true, deletedBy: 'crm' }, lease);
      }
      if (envelope.op === 'd' || !after || !owner) return mapping ? 'applied' : 'unchanged';
      return this.create(envelope, personRef, owner);
    }
    if (found?.deleted && found.deletedBy === 'exchange' && found.mailbox === owner) return 'unchanged'; // the user deleted it: that wins
    if (!owner) return 'skipped'; // nobody owns the person: no mailbox to put it in
    const version = after.version ?? '';
    if (!mapping) return this.create(envelope, personRef, owner);
    if (this.written(mapping, version)) return 'unchanged';
    assertContactCard(after.contact, personRef);
    let outcome = await exchange.updateItem(mapping.mailbox, 'contacts', mapping.itemId, after, mapping.changeKey);
    if (outcome.status === 'missing') return 'unchanged'; // deleted in Outlook meanwhile: that delete wins
    if (outcome.status === 'conflict' && outcome.changeKey !== undefined) {
      const policy = this.options.conflict ?? 'last-writer-wins';
      const exchangeFirst = exchangeWins(policy, outcome.modified, after.modified);
      if (!mapping.knownKeys?.includes(outcome.changeKey)) {
        reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-exchange', mailbox: mapping.mailbox, itemId: mapping.itemId, crmId: personRef, exchangeModified: outcome.modified, crmModified: after.modified }, this.options.onConflict);
      }
      if (exchangeFirst) {
        await mappings.save({ ...mapping, crmVersion: version }, lease);
        return 'unchanged';
      }
      const current = outcome.changeKey;
      outcome = await exchange.updateItem(mapping.mailbox, 'contacts', mapping.itemId, after, current);
      if (outcome.status === 'updated') {
        await mappings.save({ ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping, current) }, lease);
        return 'applied';
      }
    }
    if (outcome.status === 'missing') return 'unchanged';
    if (outcome.status !== 'updated') throw new SyncError('ItemChangedDuringUpdate', `the contact ${mapping.itemId} of ${mapping.mailbox} changed while it was written`, { retriable: true });
    await mappings.save({ ...mapping, changeKey: outcome.changeKey, crmVersion: version, knownKeys: withKnownKeys(mapping) }, lease);
    return 'applied';
  }

  /** A new contact, noted first: a create cut short is found by its stamp, not made twice. */
  private async create(envelope: ChangeEnvelope, personRef: CrmRef, mailbox: string): Promise<Outcome> {
    const { exchange, mappings } = this.options;
    const after = envelope.after!;
    assertContactCard(after.contact, personRef);
    const firstAttempt = await mappings.beginCreate('exchange', personRef, mailbox);
    const earlier = firstAttempt ? undefined : await exchange.findStamped(mailbox, 'contacts', personRef);
    const made = earlier ?? (await exchange.createItem(mailbox, 'contacts', after, personRef));
    const itemId = made.itemId;
    let changeKey = made.changeKey;
    if (earlier) {
      // made by an attempt cut short, perhaps from an older version: written as the person is now
      const outcome = await exchange.updateItem(mailbox, 'contacts', itemId, after);
      if (outcome.status === 'updated') changeKey = outcome.changeKey;
    }
    await mappings.save({ mailbox, itemId, crmId: personRef, changeKey, crmVersion: after.version ?? '', logPartition: -1, logOffset: -1, deleted: false, folder: 'contacts' });
    await mappings.endCreate('exchange', personRef);
    return 'applied';
  }

  /** The person's copies in selection folders, rewritten where older than this version. True when any was written. */
  private async followCopies(envelope: ChangeEnvelope, personRef: CrmRef): Promise<boolean> {
    const after = envelope.after;
    // a deleted person leaves its selections too: the selections' own changes remove the copies
    if (envelope.op === 'd' || !after) return false;
    const version = after.version ?? '';
    let any = false;
    for (const copy of await this.options.selections.copiesOf(personRef)) {
      if (copy.personVersion !== '' && this.options.crm.compareVersions(copy.personVersion, version) >= 0) continue;
      assertContactCard(after.contact, personRef);
      const outcome = await this.options.exchange.updateItem(copy.mailbox, 'contacts', copy.itemId, after);
      // gone from the folder (a user deleted the copy): the selection's next reconciliation makes it again
      if (outcome.status === 'missing') await this.options.selections.removeCopies(copy.mailbox, copy.selectionRef, [personRef]);
      else await this.options.selections.saveCopies([{ ...copy, personVersion: version }]);
      any = true;
    }
    return any;
  }
}
