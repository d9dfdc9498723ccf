import type { MailboxStore } from '../exchange/index.js';
import { ExchangeError } from '../shared/errors.js';
import type { MailboxPlacement } from './mailbox-placement.js';
import type { ExchangeProtocol } from './open-exchange-side.js';

/** What the store needs of the placement. */
export type PlacementView = Pick<MailboxPlacement, 'protocolOf' | 'isMoving' | 'refresh' | 'refusedOnPremises'>;

/**
 * A hybrid organisation's mailbox store: each call goes to the protocol its mailbox is synced
 * through (EWS on premises, Graph in Exchange Online), so handlers and verify need not know.
 * While a mailbox's state is being moved its calls wait (a retriable error: the handler tries
 * again, reading the item's mapping anew); a side that refuses a mailbox has its record read
 * again, and if another instance moved it meanwhile the call is retried the same way. A
 * mailbox the on-premises side refuses while Exchange may be moving it (the live mover is
 * looking for it in Exchange Online) waits too: a refusal in mid-move is not a lost change.
 */
export function placedMailboxStore(placement: PlacementView, stores: Readonly<Record<ExchangeProtocol, MailboxStore>>): MailboxStore {
  const wait = (mailbox: string, why: string, cause?: unknown): ExchangeError =>
    new ExchangeError('MAILBOX_MOVING', `${mailbox} ${why}: tried again once the move is done`, { category: 'transient', protocolCode: 'MailboxMoving', retriable: true, retryAfterMs: 2_000, ...(cause ? { cause } : {}) });
  const on = async <T>(mailbox: string, call: (store: MailboxStore) => Promise<T>): Promise<T> => {
    if (placement.isMoving(mailbox)) throw wait(mailbox, 'is moving to Exchange Online');
    const protocol = placement.protocolOf(mailbox);
    try {
      return await call(stores[protocol]);
    } catch (err) {
      if (!(err instanceof ExchangeError) || err.category !== 'mailbox-unavailable') throw err;
      if (await placement.refresh(mailbox).catch(() => false)) throw wait(mailbox, 'was moved by another instance', err);
      if (protocol === 'ews' && placement.refusedOnPremises(mailbox)) throw wait(mailbox, 'is refused on premises and looked for in Exchange Online', err);
      throw err;
    }
  };
  return {
    url: `${stores.ews.url} (on premises), ${stores.graph.url} (Exchange Online)`,
    createItem: (mailbox, ...rest) => on(mailbox, (s) => s.createItem(mailbox, ...rest)),
    findStamped: (mailbox, ...rest) => on(mailbox, (s) => s.findStamped(mailbox, ...rest)),
    updateItem: (mailbox, ...rest) => on(mailbox, (s) => s.updateItem(mailbox, ...rest)),
    updateOccurrence: (mailbox, ...rest) => on(mailbox, (s) => s.updateOccurrence(mailbox, ...rest)),
    deleteItem: (mailbox, ...rest) => on(mailbox, (s) => s.deleteItem(mailbox, ...rest)),
    ensureContactFolder: (mailbox, ...rest) => on(mailbox, (s) => s.ensureContactFolder(mailbox, ...rest)),
    renameFolder: (mailbox, ...rest) => on(mailbox, (s) => s.renameFolder(mailbox, ...rest)),
    deleteFolder: (mailbox, ...rest) => on(mailbox, (s) => s.deleteFolder(mailbox, ...rest)),
    createContacts: (mailbox, ...rest) => on(mailbox, (s) => s.createContacts(mailbox, ...rest)),
    stampedIn: (mailbox, ...rest) => on(mailbox, (s) => s.stampedIn(mailbox, ...rest)),
    deleteItems: (mailbox, ...rest) => on(mailbox, (s) => s.deleteItems(mailbox, ...rest)),
    getItems: (mailbox, ...rest) => on(mailbox, (s) => s.getItems(mailbox, ...rest)),
    listFolder: (mailbox, ...rest) => on(mailbox, (s) => s.listFolder(mailbox, ...rest)),
    close: async () => {
      await Promise.all([stores.ews.close(), stores.graph.close()]);
    },
  };
}
