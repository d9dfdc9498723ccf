import { SqlCrm } from '../crm-adapter/sql-crm.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../state/database.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import { ItemMappingStore } from './item-mapping.js';

export type Outcome = 'applied' | 'unchanged' | 'skipped';

export interface ToCrmOptions {
  db: Database;
  crmSchema: string;
  stateSchema: string;
  logger: Logger;
  /** Private items: sync them (marked private) or skip them. */
  privateItems: 'sync' | 'skip';
}

/**
 * Exchange → CRM: an appointment or task change of a mailbox becomes the matching row of
 * the associate whose e-mail is that mailbox. The CRM write and the mapping are one
 * transaction, and a change whose ChangeKey was already applied changes nothing — so a
 * redelivered message (crash, rebalance) is harmless. Writes are marked origin "sync"
 * and are therefore not sent back.
 */
export class ToCrmHandler {
  constructor(private readonly options: ToCrmOptions) {}

  /** `at`: where the message is in the log; one mailbox's changes are in order on one partition. */
  handle(envelope: ChangeEnvelope, at: { partition: number; offset: number }): Promise<Outcome> {
    if (!envelope.source.startsWith('exchange:') || (envelope.type !== 'appointment' && envelope.type !== 'task')) return Promise.resolve('skipped');
    const mailbox = envelope.source.slice('exchange:'.length);
    return this.options.db.transaction(async (tx) => {
      const crm = new SqlCrm(tx, this.options.crmSchema);
      const mappings = new ItemMappingStore(tx, this.options.stateSchema);
      const mapping = await mappings.get(mailbox, envelope.subject);
      // Already applied this change or a later one (a redelivery, or a replay of the log).
      if (mapping && mapping.logPartition === at.partition && at.offset <= mapping.logOffset) return 'unchanged';
      if (mapping?.deleted) return 'unchanged'; // an ItemId never comes back once deleted
      if (envelope.op === 'd' || (envelope.after?.private && this.options.privateItems === 'skip')) {
        if (!mapping) return 'unchanged';
        await crm.delete(mapping.crmId);
        await mappings.save({ ...mapping, logPartition: at.partition, logOffset: at.offset, deleted: true });
        return 'applied';
      }
      const after = envelope.after!;
      const changeKey = after.version ?? '';
      if (mapping && mapping.changeKey === changeKey) {
        await mappings.save({ ...mapping, logPartition: at.partition, logOffset: at.offset });
        return 'unchanged'; // the same version again (our own write coming back)
      }
      const associateId = await crm.associateIdByEmail(mailbox);
      if (associateId === undefined) {
        this.options.logger.debug({ mailbox, event: 'to-crm.no-associate' }, 'the mailbox is not an active associate; change skipped');
        return 'skipped';
      }
      let crmId = mapping?.crmId;
      if (crmId === undefined) {
        // Created by the sync from the CRM (stamped with the CRM id) and its mapping not seen
        // yet, or the mapping store was lost: link to that row instead of creating another.
        const stamped = Number(/^appointment:(\d+)$/.exec(after.crmId ?? '')?.[1]);
        if (Number.isInteger(stamped) && (await crm.get(stamped))) {
          const linked = await mappings.getByCrmId(stamped);
          if (linked && linked.mailbox === mailbox && linked.itemId === envelope.subject && linked.changeKey === changeKey) return 'unchanged';
          crmId = stamped;
        }
      }
      let version: number | undefined;
      if (crmId !== undefined) version = await crm.update(crmId, after);
      if (version === undefined) {
        // no mapping, or the row was deleted in the CRM meanwhile: the item (re)creates it
        const created = await crm.insert(associateId, envelope.type === 'task' ? 2 : 1, after);
        crmId = created.id;
        version = created.version;
      }
      await mappings.save({ mailbox, itemId: envelope.subject, crmId: crmId!, changeKey, crmVersion: version, logPartition: at.partition, logOffset: at.offset, deleted: false });
      return 'applied';
    });
  }
}
