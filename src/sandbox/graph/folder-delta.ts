import type { Mailbox, MailboxStore, StoredItem } from '../mailbox-store.js';
import { GraphError } from './event-json.js';
import { deltaTokenOf, parseDeltaToken, restIdOf, type DeltaPosition } from './graph-ids.js';

const DEFAULT_PAGE = 10;
const MAX_PAGE = 1_000;

/** A folder's delta as Graph's contact and To Do deltas give it (no window, one folder). */
export interface FolderDeltaRequest {
  readonly store: MailboxStore;
  readonly mailbox: Mailbox;
  readonly url: URL;
  readonly prefer: string | undefined;
  readonly epoch: number;
  readonly generation: number;
  /** The store's folder key. */
  readonly folder: string;
  /** The delta function's own URL (…/contacts/delta), which links continue. */
  readonly link: string;
  /** "#microsoft.graph.contact": the type a removed entry names. */
  readonly odataType: string;
  readonly includes: (item: StoredItem) => boolean;
  readonly jsonOf: (item: StoredItem) => Record<string, unknown>;
}

/**
 * The first round lists the folder's items, later rounds what changed since, `@removed` for
 * those gone; pages carry a nextLink, the last a deltaLink. A token of another folder, mailbox,
 * sandbox or generation: 410 syncStateNotFound.
 */
export function folderDelta(r: FolderDeltaRequest): { status: number; body: unknown } {
  const token = r.url.searchParams.get('$deltatoken') ?? r.url.searchParams.get('$skiptoken');
  let position: DeltaPosition;
  if (token) {
    const parsed = parseDeltaToken(token);
    if (!parsed || parsed.epoch !== r.epoch || parsed.generation !== r.generation || parsed.mailbox !== r.mailbox.index || parsed.folder !== r.folder || parsed.after > r.mailbox.changeNumber) {
      throw new GraphError(410, 'syncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.', { location: r.link });
    }
    position = parsed;
  } else {
    position = { epoch: r.epoch, generation: r.generation, mailbox: r.mailbox.index, folder: r.folder, from: 0, to: 0, after: -1 };
  }
  const upTo = position.upTo ?? r.mailbox.changeNumber;
  const offset = position.offset ?? 0;
  const pageSize = Math.min(MAX_PAGE, Number(/odata\.maxpagesize=(\d+)/.exec(r.prefer ?? '')?.[1] ?? DEFAULT_PAGE) || DEFAULT_PAGE);
  type Entry = { item?: StoredItem; removed?: string };
  const entries: Entry[] = position.after < 0
    ? r.store.itemsIn(r.mailbox, r.folder).filter(r.includes).sort((a, b) => a.seq - b.seq).map((item) => ({ item }))
    : r.store.changesSince(r.mailbox, r.folder, position.after).filter((c) => c.changeNumber <= upTo).map((c) => (c.item ? { item: c.item } : { removed: restIdOf(c.deletedId!) }));
  const value = entries.slice(offset, offset + pageSize).map((e) => (e.item ? r.jsonOf(e.item) : { '@odata.type': r.odataType, id: e.removed, '@removed': { reason: 'deleted' } }));
  const link = offset + pageSize < entries.length
    ? { '@odata.nextLink': `${r.link}?$skiptoken=${deltaTokenOf({ ...position, upTo, offset: offset + pageSize })}` }
    : { '@odata.deltaLink': `${r.link}?$deltatoken=${deltaTokenOf({ epoch: position.epoch, generation: position.generation, mailbox: position.mailbox, folder: r.folder, from: 0, to: 0, after: upTo })}` };
  return { status: 200, body: { value, ...link } };
}
