import type { ConflictPolicy } from '../config/index.js';
import { parseCrmRef, type CrmPort, type CrmRef } from '../crm-adapter/crm-port.js';
import { assertContactCard } from '../shared/contact-card.js';
import { SyncError } from '../shared/errors.js';
import type { ItemFields } from '../shared/item-fields.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import type { ChangeHandler, HandlingPlace, Outcome } from './change-handler.js';
import { exchangeWins, reportConflict, type ConflictReport } from './conflict-policy.js';
import type { MailboxStore } from '../exchange/index.js';
import { backInMailbox } from './back-in-mailbox.js';
import { readBeforeMove, type PositionKindOf } from './moved-mailbox.js';
import { exchangeStamp } from './exchange-stamp.js';
import { withKnownKeys, type ItemLease, type ItemMapping, type ItemMappingStore } from './item-mapping.js';

export interface ContactsToCrmOptions {
  crm: CrmPort;
  mappings: ItemMappingStore;
  logger: Logger;
  conflict?: ConflictPolicy;
  onConflict?: (report: ConflictReport) => void;
  /** Asked whether a contact the sync saw deleted is in the mailbox again. */
  exchange?: Pick<MailboxStore, 'getItems'>;
  /** The position kind a mailbox is read with now: a change read before a move is skipped, not taken for a new contact. */
  positionKindOf?: PositionKindOf;
}

/** The fields of a person the sync writes from a contact: the card, notes and categories. */
function personFields(after: ItemFields, what: string): ItemFields {
  const fields: ItemFields = { contact: assertContactCard(after.contact, what) };
  if (after.body !== undefined) fields.body = after.body;
  if (after.categories) fields.categories = after.categories;
  return fields;
}

/**
 * Exchange → CRM for contacts: a contact in a user's Contacts folder is a CRM person owned by
 * that user (the associate whose e-mail is the mailbox), its company the CRM contact of that
 * name. Idempotent like the appointment handler: the ChangeKey and log place already applied
 * change nothing, a create is noted and stamped first (a create cut short is finished, not
 * doubled), a contact the sync made from a person (stamped with its id) is linked to it. A
 * contact with neither name nor e-mail, or an e-mail that is not an address, is refused for
 * good: parked in the dead-letter topic with the reason, and the changes after it flow.
 */
export class ContactsToCrm implements ChangeHandler {
  constructor(private readonly options: ContactsToCrmOptions) {}

  accepts(envelope: ChangeEnvelope): boolean {
    return envelope.source.startsWith('exchange:') && envelope.type === 'contact';
  }

  handle(envelope: ChangeEnvelope, at: HandlingPlace): Promise<Outcome> {
    const mailbox = envelope.source.slice('exchange:'.length);
    return this.options.mappings.holding(mailbox, envelope.subject, (mapping, lease) => this.apply(mailbox, envelope, at, mapping, lease));
  }

  private async apply(mailbox: string, envelope: ChangeEnvelope, at: HandlingPlace, mapping: ItemMapping | undefined, lease: ItemLease): Promise<Outcome> {
    const { crm, mappings } = this.options;
    const position = { logPartition: at.partition, logOffset: at.offset };
    if (mapping && mapping.logPartition === at.partition && at.offset <= mapping.logOffset) return 'unchanged';
    if (mapping?.deleted) {
      if (envelope.op === 'd' || !(await backInMailbox(this.options.exchange, mapping))) return 'unchanged';
      this.options.logger.info({ mailbox, itemId: envelope.subject, event: 'to-crm.item-back' }, 'a contact the sync had seen deleted is in the mailbox again: it gets a CRM person again');
      return this.apply(mailbox, envelope, at, undefined, lease);
    }
    if (envelope.op === 'd') {
      if (!mapping) return 'unchanged';
      await crm.deletePerson(mapping.crmId);
      await mappings.save({ ...mapping, ...position, deleted: true, deletedBy: 'exchange' }, lease);
      return 'applied';
    }
    const after = envelope.after!;
    const changeKey = after.version ?? '';
    // our own write coming back, or a version already applied
    if (mapping && (mapping.changeKey === changeKey || mapping.knownKeys?.includes(changeKey))) {
      await mappings.save({ ...mapping, ...position }, lease);
      return 'unchanged';
    }
    const fields = personFields(after, `the contact ${envelope.subject} of ${mailbox}`);
    const associate = await crm.associateByEmail(mailbox);
    if (!associate) return 'skipped';
    const saved = { changeKey, ...position, deleted: false, folder: 'contacts' as const };
    if (mapping) {
      const person = await crm.person(mapping.crmId);
      if (!person) return 'unchanged'; // deleted in the CRM meanwhile: that delete wins
      if (person.version !== mapping.crmVersion && !person.writtenBySync) {
        const policy = this.options.conflict ?? 'last-writer-wins';
        const exchangeFirst = exchangeWins(policy, after.modified, person.fields.modified);
        reportConflict(this.options.logger, { policy, winner: exchangeFirst ? 'exchange' : 'crm', detectedBy: 'to-crm', mailbox, itemId: envelope.subject, crmId: person.ref, exchangeModified: after.modified, crmModified: person.fields.modified }, this.options.onConflict);
        if (!exchangeFirst) {
          await mappings.save({ ...mapping, ...position, knownKeys: withKnownKeys(mapping, changeKey) }, lease);
          return 'unchanged';
        }
      }
      const written = await crm.updatePerson(mapping.crmId, fields, person.version);
      if (written.status === 'missing') return 'unchanged';
      if (written.status === 'conflict') throw new SyncError('CRM_RECORD_CHANGED', `${mapping.crmId} changed while it was written`, { retriable: true });
      await mappings.save({ ...mapping, ...saved, crmVersion: written.version, knownKeys: withKnownKeys(mapping) }, lease);
      return 'applied';
    }
    if (await readBeforeMove(this.options.positionKindOf, mailbox, envelope, this.options.logger)) return 'skipped';
    // made by the sync from a person (stamped with its id), its mapping lost or not saved yet
    const stampedRef = parseCrmRef(after.crmId)?.entity === 'person' ? after.crmId : undefined;
    const stamped = stampedRef ? await crm.person(stampedRef) : undefined;
    if (stamped) {
      const written = await crm.updatePerson(stamped.ref, fields);
      await mappings.save({ mailbox, itemId: envelope.subject, crmId: stamped.ref, crmVersion: written.status === 'written' ? written.version : stamped.version, ...saved }, lease);
      await mappings.endCreate('exchange', stamped.ref);
      return 'applied';
    }
    const stamp = exchangeStamp(mailbox, envelope.subject);
    const firstAttempt = await mappings.beginCreate('crm', stamp, mailbox);
    const earlier = firstAttempt ? undefined : await crm.findStampedPerson(stamp);
    let created: { ref: CrmRef; version: string };
    if (earlier) {
      const written = await crm.updatePerson(earlier.ref, fields);
      created = { ref: earlier.ref, version: written.status === 'written' ? written.version : earlier.version };
    } else {
      created = await crm.createPerson(associate.ref, fields, stamp);
    }
    await mappings.save({ mailbox, itemId: envelope.subject, crmId: created.ref, crmVersion: created.version, ...saved }, lease);
    await mappings.endCreate('crm', stamp);
    return 'applied';
  }
}
