import type { ServerResponse } from 'node:http';
import { childNamed, type XmlElement } from '../shared/safe-xml.js';
import { parseFolderId, parseItemId, parseOccurrenceId } from './ids.js';
import type { Mailbox, MailboxStore, StoredItem } from './mailbox-store.js';
import type { SandboxStats } from './sandbox-stats.js';
import type { StreamingConnection } from './streaming-connection.js';
import type { SubscriptionRegistry } from './subscriptions.js';

/**
 * Exchange's throttling limits, each charged to a budget (see EwsContext.budget).
 * Defaults are Exchange 2016/2019's and Exchange Online's.
 */
export interface SandboxLimits {
  /** Subscriptions per budget (EWSMaxSubscriptions; 20 in Exchange Online). */
  maxSubscriptionsPerMailbox: number;
  /** Concurrent streaming connections per budget (HangingConnectionLimit, 10). */
  hangingConnectionLimit: number;
  /** Concurrent requests other than streaming per budget (EWSMaxConcurrency, 27). */
  maxConcurrency: number;
  /** Subscription ids one GetStreamingEvents may carry. */
  maxSubscriptionsPerConnection: number;
  /** Keep-alive interval of streaming connections. */
  heartbeatMs: number;
  /** Number of simulated mailbox servers (affinity); 1 turns affinity checks off. */
  backends: number;
}

/** Everything an operation handler may use for one request. */
export interface EwsContext {
  readonly store: MailboxStore;
  readonly subscriptions: SubscriptionRegistry;
  readonly stats: SandboxStats;
  readonly limits: SandboxLimits;
  /** The mailbox acted on: the impersonated one, or the account's own. */
  readonly mailbox: Mailbox;
  /** The authenticated account. */
  readonly account: string;
  /**
   * Whose throttling budget the request is charged to: with impersonation a copy of the
   * target mailbox's budget (shared by every account impersonating it), otherwise the
   * account's own — as Exchange charges since 2012 (EWSMaxSubscriptions, EWSMaxConcurrency,
   * and the streaming connections' HangingConnectionLimit).
   */
  readonly budget: string;
  /** IANA zone from the TimeZoneContext header, if any. */
  readonly zone: string | undefined;
  /** The operation element inside soap:Body. */
  readonly body: XmlElement;
  /** Changes when the sandbox is created; watermarks of another sandbox are foreign. */
  readonly epoch: number;
  /** The simulated backend server this request was routed to. */
  readonly backend: number;
  readonly now: () => number;
  readonly minuteMs: number;
  /** For GetStreamingEvents, which answers on the raw response. */
  readonly res: ServerResponse;
  /** Headers to add to the HTTP response (affinity cookies). */
  readonly responseHeaders: Record<string, string>;
  readonly openConnections: Set<StreamingConnection>;
  /** Whether a new streaming connection hangs silently (a hostile server, Sandbox.hostile). */
  readonly silentStream?: () => boolean;
  /** Test mode: sees every message (schema validation). */
  readonly inspect?: (direction: 'request' | 'response', operation: string, xml: string) => void;
}

/** An error that becomes one error response message (not a SOAP fault). */
export class EwsResponseError extends Error {
  constructor(readonly code: string, message: string, readonly details?: Record<string, string | number>) {
    super(message);
  }
}

/** A request-level failure: a SOAP fault with HTTP 500. */
export class EwsFault extends Error {
  constructor(readonly code: string, message: string, readonly details?: Record<string, string | number>) {
    super(message);
  }
}

const DISTINGUISHED = new Set(['calendar', 'tasks', 'contacts', 'inbox', 'msgfolderroot', 'root', 'deleteditems']);

/** A DistinguishedFolderId or FolderId element → the folder key in the context's mailbox. */
export function resolveFolder(ctx: EwsContext, ref: XmlElement): string {
  if (ref.local === 'DistinguishedFolderId') {
    const id = ref.attrs.Id ?? '';
    const other = childNamed(ref, 'Mailbox');
    if (other) {
      const address = childNamed(other, 'EmailAddress')?.text.trim() ?? '';
      if (address.toLowerCase() !== ctx.mailbox.address) throw new EwsResponseError('ErrorAccessDenied', `Access is denied to the mailbox ${address}.`);
    }
    if (!DISTINGUISHED.has(id)) throw new EwsResponseError('ErrorFolderNotFound', `The distinguished folder "${id}" is not available in this mailbox.`);
    return id;
  }
  if (ref.local === 'FolderId') {
    const parsed = parseFolderId(ref.attrs.Id ?? '');
    if (!parsed) throw new EwsResponseError('ErrorInvalidIdMalformed', 'Id is malformed.');
    if (parsed.mailbox !== ctx.mailbox.index || !ctx.mailbox.folders.has(parsed.folder)) {
      throw new EwsResponseError('ErrorFolderNotFound', 'The specified folder could not be found in the store.');
    }
    return parsed.folder;
  }
  throw new EwsResponseError('ErrorInvalidRequest', `Unsupported folder reference <${ref.name}>.`);
}

export interface ItemRef {
  item: StoredItem;
  /** Set for an occurrence (OccurrenceItemId or an occurrence's ItemId): its InstanceIndex. */
  occurrenceIndex?: number;
  /** The ChangeKey the client sent, if any. */
  changeKey?: string;
}

/** ItemId / OccurrenceItemId / RecurringMasterItemId → the stored item. */
export function resolveItem(ctx: EwsContext, ref: XmlElement): ItemRef {
  const lookup = (mailboxIndex: number, seq: number): StoredItem => {
    if (mailboxIndex !== ctx.mailbox.index) throw new EwsResponseError('ErrorItemNotFound', 'The specified object was not found in the store.');
    const item = ctx.mailbox.items.get(seq);
    if (!item) throw new EwsResponseError('ErrorItemNotFound', 'The specified object was not found in the store.');
    return item;
  };
  if (ref.local === 'ItemId') {
    const id = ref.attrs.Id ?? '';
    const occurrence = parseOccurrenceId(id);
    if (occurrence) return { item: lookup(occurrence.mailbox, occurrence.item), occurrenceIndex: occurrence.index, changeKey: ref.attrs.ChangeKey };
    const parsed = parseItemId(id);
    if (!parsed) throw new EwsResponseError('ErrorInvalidIdMalformed', 'Id is malformed.');
    return { item: lookup(parsed.mailbox, parsed.item), changeKey: ref.attrs.ChangeKey };
  }
  if (ref.local === 'OccurrenceItemId') {
    const parsed = parseItemId(ref.attrs.RecurringMasterId ?? '');
    if (!parsed) throw new EwsResponseError('ErrorInvalidIdMalformed', 'Id is malformed.');
    const index = Number(ref.attrs.InstanceIndex);
    if (!Number.isInteger(index) || index < 1) throw new EwsResponseError('ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange', 'Occurrence index is out of recurrence range.');
    return { item: lookup(parsed.mailbox, parsed.item), occurrenceIndex: index, changeKey: ref.attrs.ChangeKey };
  }
  if (ref.local === 'RecurringMasterItemId') {
    const occurrence = parseOccurrenceId(ref.attrs.OccurrenceId ?? '');
    if (occurrence) return { item: lookup(occurrence.mailbox, occurrence.item), changeKey: ref.attrs.ChangeKey };
    const parsed = parseItemId(ref.attrs.OccurrenceId ?? '');
    if (!parsed) throw new EwsResponseError('ErrorInvalidIdMalformed', 'Id is malformed.');
    return { item: lookup(parsed.mailbox, parsed.item), changeKey: ref.attrs.ChangeKey };
  }
  throw new EwsResponseError('ErrorInvalidRequest', `Unsupported item reference <${ref.name}>.`);
}

/** Runs `work` per element, turning EwsResponseErrors into error response messages. */
export function perElement<T>(elements: readonly T[], work: (e: T) => string, onError: (err: EwsResponseError) => string): string {
  let out = '';
  for (const e of elements) {
    try {
      out += work(e);
    } catch (err) {
      if (!(err instanceof EwsResponseError)) throw err;
      out += onError(err);
    }
  }
  return out;
}

/** The occurrence with this InstanceIndex, or the error Exchange gives for a missing one. */
export function requireOccurrence<T>(find: (index: number) => T | undefined, index: number): T {
  const occurrence = find(index);
  if (!occurrence) throw new EwsResponseError('ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange', 'Occurrence index is out of recurrence range.');
  return occurrence;
}
