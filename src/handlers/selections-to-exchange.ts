import type { CrmPerson, CrmPort, CrmRef, CrmSelection } from '../crm-adapter/crm-port.js';
import type { MailboxStore } from '../exchange/index.js';
import { assertContactCard } from '../shared/contact-card.js';
import { isRetriable, PoisonMessageError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEnvelope } from '../streams/envelope.js';
import type { ChangeHandler, Outcome } from './change-handler.js';
import type { ItemMappingStore } from './item-mapping.js';
import type { SelectionCopy, SelectionFolder, SelectionFolderStore } from './selection-folders.js';

export interface SelectionsToExchangeOptions {
  crm: Pick<CrmPort, 'selection' | 'selectionMembers' | 'persons'>;
  exchange: MailboxStore;
  selections: SelectionFolderStore;
  /** Its create notes: a batch of creates cut short is adopted from the folder, not made twice. */
  mappings: Pick<ItemMappingStore, 'beginCreate' | 'endCreate'>;
  logger: Logger;
  /** Contacts per CreateItem request (and per saved step of the state). */
  batchSize?: number;
}

/** What one reconciliation wrote, for the log. */
interface Tally {
  folders: number;
  created: number;
  updated: number;
  removed: number;
}

/**
 * CRM → Exchange, one direction: a static selection of persons becomes a contact folder
 * named after it in the mailbox of every associate who subscribes to it. Every change of a
 * selection (a member added or removed, a rename, a subscriber more or less, the selection
 * deleted) arrives as "this selection changed", and the folders are reconciled with the
 * selection as the CRM has it now, by difference against the sync's state: only missing
 * copies are created (in batches, CreateItem with many contacts), only stale ones updated,
 * only those of former members deleted. So a repeat writes nothing, and a large selection
 * costs one request per batch. Members that cannot be contacts (no name, no e-mail, a bad
 * address) and a selection of something other than persons are refused with the reason
 * (the envelope is parked in the dead-letter topic) after everything else was written.
 */
export class SelectionsToExchange implements ChangeHandler {
  private readonly batchSize: number;

  constructor(private readonly options: SelectionsToExchangeOptions) {
    this.batchSize = options.batchSize ?? 100;
  }

  accepts(envelope: ChangeEnvelope): boolean {
    return envelope.source.startsWith('crm:') && envelope.type === 'selection-member';
  }

  async handle(envelope: ChangeEnvelope): Promise<Outcome> {
    const selectionRef = envelope.subject;
    const { crm, selections } = this.options;
    const selection = await crm.selection(selectionRef);
    const tally: Tally = { folders: 0, created: 0, updated: 0, removed: 0 };
    const folders = await selections.foldersOf(selectionRef);
    const subscribers = new Set((selection?.subscribers ?? []).map((s) => s.toLowerCase()));
    // deleted, or no longer subscribed: the folder goes with its copies
    for (const folder of folders) {
      if (selection && selection.target === 'person' && subscribers.has(folder.mailbox)) continue;
      await this.options.exchange.deleteFolder(folder.mailbox, folder.folderId);
      await selections.removeFolder(folder.mailbox, selectionRef);
      tally.folders++;
    }
    if (!selection) return this.done(selectionRef, tally);
    if (selection.target !== 'person') {
      throw new PoisonMessageError(`${selectionRef} "${selection.name}" lists ${selection.target} records, not persons: only a selection of persons becomes a contact folder`, { context: { selection: selectionRef } });
    }
    const members = await crm.selectionMembers(selectionRef);
    const people = new Map((await crm.persons(members)).map((p) => [p.ref, p]));
    const refused: string[] = [];
    const usable = new Map<CrmRef, CrmPerson>();
    for (const [ref, person] of people) {
      try {
        assertContactCard(person.fields.contact, ref);
        usable.set(ref, person);
      } catch (err) {
        refused.push((err as Error).message);
      }
    }
    const known = new Map(folders.map((f) => [f.mailbox, f]));
    for (const mailbox of subscribers) {
      const failures = await this.reconcile(selection, known.get(mailbox), mailbox, usable, tally);
      refused.push(...failures);
    }
    const outcome = this.done(selectionRef, tally);
    if (refused.length) {
      throw new PoisonMessageError(`${selectionRef} "${selection.name}": ${refused.length} member(s) could not be written (the others were): ${refused.slice(0, 5).join('; ')}${refused.length > 5 ? ' …' : ''}`, { context: { selection: selectionRef, refused: refused.length } });
    }
    return outcome;
  }

  private done(selectionRef: CrmRef, tally: Tally): Outcome {
    const wrote = tally.folders + tally.created + tally.updated + tally.removed;
    if (wrote) this.options.logger.info({ event: 'selection.reconciled', selection: selectionRef, ...tally }, `${selectionRef}: ${tally.created} created, ${tally.updated} updated, ${tally.removed} removed, ${tally.folders} folder change(s)`);
    return wrote ? 'applied' : 'unchanged';
  }

  /** One subscriber's folder made to list exactly the selection's members; returns why members failed. */
  private async reconcile(selection: CrmSelection, known: SelectionFolder | undefined, mailbox: string, members: ReadonlyMap<CrmRef, CrmPerson>, tally: Tally): Promise<string[]> {
    const { exchange, selections } = this.options;
    let folder = known;
    if (folder && folder.name !== selection.name) {
      if (await exchange.renameFolder(mailbox, folder.folderId, selection.name)) {
        folder = { ...folder, name: selection.name };
        await selections.saveFolder(folder);
      } else {
        // the user deleted the folder: it is made again, with every member
        await selections.removeFolder(mailbox, selection.ref);
        folder = undefined;
      }
      tally.folders++;
    }
    if (!folder) {
      folder = { mailbox, selectionRef: selection.ref, folderId: await exchange.ensureContactFolder(mailbox, selection.name), name: selection.name };
      await selections.saveFolder(folder);
      tally.folders++;
    }
    const copies = await selections.copiesIn(mailbox, selection.ref);
    const gone = [...copies.values()].filter((c) => !members.has(c.personRef));
    if (gone.length) {
      await exchange.deleteItems(mailbox, gone.map((c) => c.itemId));
      await selections.removeCopies(mailbox, selection.ref, gone.map((c) => c.personRef));
      tally.removed += gone.length;
    }
    const failures = await this.createMissing(folder, [...members.values()].filter((p) => !copies.has(p.ref)), tally);
    for (const copy of copies.values()) {
      const person = members.get(copy.personRef);
      if (!person || copy.personVersion === person.version) continue;
      const outcome = await exchange.updateItem(mailbox, 'contacts', copy.itemId, person.fields);
      if (outcome.status === 'missing') {
        // deleted by the user: made again next to the others
        await selections.removeCopies(mailbox, selection.ref, [copy.personRef]);
        failures.push(...(await this.createMissing(folder, [person], tally)));
        continue;
      }
      await selections.saveCopies([{ ...copy, personVersion: person.version }]);
      tally.updated++;
    }
    return failures;
  }

  /**
   * The members without a copy, created in batches; the state is saved after each batch. A
   * note taken first tells a later attempt that a batch may have been cut short: then the
   * folder's stamped contacts are adopted before anything is created.
   */
  private async createMissing(folder: SelectionFolder, missing: CrmPerson[], tally: Tally): Promise<string[]> {
    if (!missing.length) return [];
    const { exchange, selections, mappings } = this.options;
    const note = `${folder.selectionRef}|${folder.mailbox}`;
    let todo = missing;
    if (!(await mappings.beginCreate('exchange', note, folder.mailbox))) {
      const stamped = await exchange.stampedIn(folder.mailbox, folder.folderId);
      const adopted = missing.filter((p) => stamped.has(p.ref));
      // adopted, and written again from the person as it is now (the interrupted batch may hold an older version)
      for (const p of adopted) {
        const itemId = stamped.get(p.ref)!.itemId;
        await exchange.updateItem(folder.mailbox, 'contacts', itemId, p.fields);
        await selections.saveCopies([{ mailbox: folder.mailbox, selectionRef: folder.selectionRef, personRef: p.ref, itemId, personVersion: p.version }]);
        tally.updated++;
      }
      todo = missing.filter((p) => !stamped.has(p.ref));
    }
    const failures: string[] = [];
    let busy: Error | undefined;
    for (let i = 0; i < todo.length; i += this.batchSize) {
      const batch = todo.slice(i, i + this.batchSize);
      const results = await exchange.createContacts(folder.mailbox, folder.folderId, batch.map((p) => ({ fields: p.fields, crmId: p.ref })));
      const made: SelectionCopy[] = [];
      results.forEach((r, j) => {
        if ('itemId' in r) made.push({ mailbox: folder.mailbox, selectionRef: folder.selectionRef, personRef: batch[j].ref, itemId: r.itemId, personVersion: batch[j].version });
        else if (isRetriable(r.error)) busy ??= r.error;
        else failures.push(`${batch[j].ref}: ${r.error.message}`);
      });
      await selections.saveCopies(made);
      tally.created += made.length;
    }
    // a contact Exchange could not take now (busy): the whole selection is tried again, and
    // what was made is known, so only the rest is created then
    if (busy) throw busy;
    await mappings.endCreate('exchange', note);
    return failures;
  }
}
