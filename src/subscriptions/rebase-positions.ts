import type { FolderKind } from '../exchange/index.js';
import type { PositionStore } from '../state/position-store.js';
import type { ExchangeProtocol } from './open-exchange-side.js';
import { folderIdsKey } from './ews-source-base.js';
import { positionKey, unconfirmedKey } from './folder-syncer.js';

const PROTOCOL_KEY = 'exchange:protocol';

/**
 * The protocol whose ids and positions the state holds: recorded at each start; a state from
 * before it was recorded is EWS's if a mailbox has EWS's folder-id cache (only EWS keeps one).
 */
export async function recordedProtocol(positions: PositionStore, someMailboxes: readonly string[]): Promise<ExchangeProtocol | undefined> {
  const recorded = await positions.get(PROTOCOL_KEY);
  if (recorded === 'ews' || recorded === 'graph') return recorded;
  const cached = await positions.getMany(someMailboxes.map(folderIdsKey));
  return cached.size ? 'ews' : undefined;
}

export const recordProtocol = (positions: PositionStore, protocol: ExchangeProtocol): Promise<void> => positions.save(PROTOCOL_KEY, protocol);

const MAILBOX_PROTOCOL_PREFIX = `${PROTOCOL_KEY}:`;

/** Which protocol holds one mailbox's ids and positions (a hybrid organisation, or a mailbox moved to Graph). */
export const recordMailboxProtocol = (positions: PositionStore, mailbox: string, protocol: ExchangeProtocol): Promise<void> => positions.save(`${MAILBOX_PROTOCOL_PREFIX}${mailbox}`, protocol);

/** One mailbox's recorded protocol, read from the state now (another instance may have moved it). */
export async function recordedMailboxProtocol(positions: PositionStore, mailbox: string): Promise<ExchangeProtocol | undefined> {
  const value = await positions.get(`${MAILBOX_PROTOCOL_PREFIX}${mailbox}`);
  return value === 'ews' || value === 'graph' ? value : undefined;
}

/** Every mailbox's recorded protocol (mailbox → protocol). */
export async function recordedMailboxProtocols(positions: PositionStore): Promise<Map<string, ExchangeProtocol>> {
  const out = new Map<string, ExchangeProtocol>();
  for (const [key, value] of await positions.withPrefix(MAILBOX_PROTOCOL_PREFIX)) if (value === 'ews' || value === 'graph') out.set(key.slice(MAILBOX_PROTOCOL_PREFIX.length), value);
  return out;
}

/**
 * A mailbox's positions made the new protocol's: its folders' positions forgotten (the next
 * read is a full one, matched against the mappings), the old protocol's caches dropped, and
 * the ids of items created but not confirmed yet renamed.
 */
export async function rebasePositions(positions: PositionStore, mailbox: string, folders: readonly FolderKind[], renames: ReadonlyMap<string, string>): Promise<void> {
  for (const folder of folders) {
    await positions.delete(positionKey(mailbox, folder));
    const key = unconfirmedKey(mailbox, folder);
    const left = await positions.get(key);
    if (left) await positions.save(key, JSON.stringify((JSON.parse(left) as string[]).map((id) => renames.get(id) ?? id)));
  }
  await positions.delete(folderIdsKey(mailbox));
}
