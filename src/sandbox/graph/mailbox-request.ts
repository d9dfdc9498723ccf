import { changeKeyOf } from '../ids.js';
import type { Mailbox, MailboxStore, StoredItem } from '../mailbox-store.js';
import { GraphError } from './event-json.js';

/** What a request on one mailbox's items needs of the Graph server (contacts, To Do). */
export interface MailboxRequest {
  readonly store: MailboxStore;
  readonly mailbox: Mailbox;
  readonly method: string;
  readonly url: URL;
  readonly body: unknown;
  readonly ifMatch: string | undefined;
  readonly prefer: string | undefined;
  /** https://127.0.0.1:port/v1.0 */
  readonly base: string;
  readonly epoch: number;
  readonly generation: number;
}

export interface MailboxReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** If-Match with the version the client read ("W/\"<changeKey>\"", or *): 412 when the item has changed since. */
export function checkIfMatch(ifMatch: string | undefined, item: StoredItem): void {
  if (!ifMatch || ifMatch === '*') return;
  const wanted = /^(?:W\/)?"?([^"]*)"?$/.exec(ifMatch.trim())?.[1];
  if (wanted !== changeKeyOf(item.version)) throw new GraphError(412, 'ErrorIrresolvableConflict', 'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.');
}
