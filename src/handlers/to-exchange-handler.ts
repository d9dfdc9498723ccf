import type { ExchangePort, FolderKind } from '../ews/exchange-port.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../state/database.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import { ItemMappingStore } from './item-mapping.js';
import type { Outcome } from './to-crm-handler.js';

export interface ToExchangeOptions {
  db: Database;
  stateSchema: string;
  exchange: ExchangePort;
  logger: Logger;
  privateItems: 'sync' | 'skip';
}

/**
 * CRM → Exchange: a user's change to an appointment or task row is created, updated or
 * deleted in the associate's mailbox (through impersonation); a created item is stamped
 * with the CRM id, so the mapping can be rebuilt from Exchange. A row version
 * (updated_count) already written changes nothing, so repeats are harmless; the item's new
 * ChangeKey is recorded, so when the change comes back from Exchange it is recognised.
 */
export class ToExchangeHandler {
  private readonly mappings: ItemMappingStore;

  constructor(private readonly options: ToExchangeOptions) {
    this.mappings = new ItemMappingStore(options.db, options.stateSchema);
  }

  async handle(envelope: ChangeEnvelope, key: string): Promise<Outcome> {
    if (!envelope.source.startsWith('crm:') || (envelope.type !== 'appointment' && envelope.type !== 'task')) return 'skipped';
    const crmId = Number(/^appointment:(\d+)$/.exec(envelope.subject)?.[1]);
    if (!Number.isInteger(crmId)) return 'skipped';
    const folder: FolderKind = envelope.type === 'task' ? 'tasks' : 'calendar';
    const mapping = await this.mappings.getByCrmId(crmId);
    const after = envelope.after;
    if (envelope.op === 'd' || (after?.private && this.options.privateItems === 'skip')) {
      if (!mapping) return 'unchanged';
      await this.options.exchange.deleteItem(mapping.mailbox, mapping.itemId);
      await this.mappings.save({ ...mapping, deleted: true });
      return 'applied';
    }
    const mailbox = after?.associateEmail ?? key;
    if (!after || !mailbox.includes('@')) return 'skipped';
    const version = Number(after.version ?? 0);
    if (mapping && mapping.crmVersion >= version) return 'unchanged'; // written already (a repeat, or our own write)
    if (mapping) {
      const changeKey = await this.options.exchange.updateItem(mapping.mailbox, folder, mapping.itemId, after);
      if (changeKey !== undefined) {
        await this.mappings.save({ ...mapping, changeKey, crmVersion: version });
        return 'applied';
      }
      // deleted in Exchange meanwhile: the CRM change brings it back
    }
    const created = await this.options.exchange.createItem(mailbox, folder, after, envelope.subject);
    await this.mappings.save({
      mailbox, itemId: created.itemId, crmId, changeKey: created.changeKey, crmVersion: version, logPartition: -1, logOffset: -1, deleted: false,
    });
    this.options.logger.debug({ mailbox, crmId, event: 'to-exchange.created' }, 'created in the mailbox');
    return 'applied';
  }
}
