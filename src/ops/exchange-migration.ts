import type { FolderKind, MailboxStore } from '../exchange/index.js';
import { ItemMappingStore, SelectionFolderStore } from '../handlers/index.js';
import { Limiter } from '../shared/limiter.js';
import type { Logger } from '../shared/logger.js';
import { assertIdentifier, forgetState, SqlPositionStore, type Database } from '../state/index.js';
import type { PositionStore } from '../state/position-store.js';
import { rebasePositions, recordedMailboxProtocols, recordedProtocol, recordMailboxProtocol, recordProtocol, type ExchangeProtocol, type ExchangeSide } from '../subscriptions/index.js';

/** What moving one mailbox's state from EWS to Graph finds (and, unless a dry run, does). */
export interface MailboxMigration {
  readonly mailbox: string;
  /** Items of live mappings found under the id Graph's translateExchangeIds gave. */
  readonly byId: number;
  /** Found by our stamp instead (the translated id was not there). */
  readonly byStamp: number;
  /** Not found: deleted while no sync ran; the first Graph read deletes their CRM records as for any delete. */
  readonly unmatched: number;
  /** Selection folders found again by name, with their copies by stamp (0 in a dry run: not looked up). */
  readonly selectionFolders: number;
}

export interface ExchangeMigrationOptions {
  readonly mappings: ItemMappingStore;
  readonly selections: SelectionFolderStore;
  readonly positions: PositionStore;
  /** The Graph side's store and its id translation. */
  readonly store: MailboxStore;
  readonly translateEwsIds: (mailbox: string, ewsIds: readonly string[]) => Promise<Map<string, string>>;
  /** The folders the deployment syncs (their positions are re-based). */
  readonly folders: readonly FolderKind[];
  readonly dryRun: boolean;
  readonly logger: Logger;
}

const baseOf = (itemId: string): string => (itemId.includes('@') ? itemId.slice(0, itemId.indexOf('@')) : itemId);

/**
 * Moves one mailbox's sync state from EWS to Microsoft Graph without touching the mailbox or
 * the CRM: each mapped EWS ItemId becomes the item's Graph id (translateExchangeIds, checked
 * against a listing of the folder; else the item found by our stamp), the folders' positions
 * are forgotten so the first Graph read is a full one — whose items then meet their mappings
 * at the versions they had, and change nothing — and selection folders are found again by
 * name. Run while no instance syncs the mailbox; repeating it is harmless (an id that is
 * already Graph's translates to itself or not at all, and is kept).
 */
export async function migrateMailboxToGraph(mailbox: string, o: ExchangeMigrationOptions): Promise<MailboxMigration> {
  const rows = await o.mappings.allOfMailbox(mailbox);
  const bases = [...new Set(rows.map((r) => baseOf(r.itemId)))];
  const translated = bases.length ? await o.translateEwsIds(mailbox, bases) : new Map<string, string>();
  const listed = new Map<FolderKind, Set<string>>();
  const present = async (folder: FolderKind, itemId: string): Promise<boolean> => {
    let ids = listed.get(folder);
    if (!ids) listed.set(folder, (ids = new Set((await o.store.listFolder(mailbox, folder)).map((i) => i.itemId))));
    return ids.has(itemId);
  };
  const renames = new Map<string, string>();
  let byId = 0;
  let byStamp = 0;
  let unmatched = 0;
  const live = rows.filter((r) => !r.deleted && !r.itemId.includes('@'));
  for (const m of live) {
    const folder = m.folder ?? 'calendar';
    const candidate = translated.get(m.itemId) ?? m.itemId;
    if (await present(folder, candidate)) {
      byId++;
      renames.set(m.itemId, candidate);
      continue;
    }
    const stamped = await o.store.findStamped(mailbox, folder, m.crmId);
    if (stamped) {
      byStamp++;
      renames.set(m.itemId, stamped.itemId);
    } else {
      unmatched++;
      renames.set(m.itemId, candidate);
    }
  }
  // tombstones and exceptions follow their translated ids (a late copy still meets its tombstone)
  for (const m of rows) {
    const base = baseOf(m.itemId);
    if (!renames.has(base) && translated.has(base)) renames.set(base, translated.get(base)!);
  }
  let selectionFolders = 0;
  if (!o.dryRun) {
    await o.mappings.renameItems(mailbox, renames);
    await rebasePositions(o.positions, mailbox, o.folders, renames);
    await recordMailboxProtocol(o.positions, mailbox, 'graph');
    for (const folder of await o.selections.foldersIn(mailbox)) {
      // the sync's own folder, adopted by its name (made again only if a user deleted it)
      const folderId = await o.store.ensureContactFolder(mailbox, folder.name);
      const stamped = await o.store.stampedIn(mailbox, folderId);
      await o.selections.rebaseFolder(mailbox, folder.selectionRef, folderId, new Map([...stamped].map(([person, item]) => [person, item.itemId])));
      selectionFolders++;
    }
  }
  const result = { mailbox, byId, byStamp, unmatched, selectionFolders };
  o.logger.info({ event: o.dryRun ? 'migration.planned' : 'migration.mailbox-moved', ...result }, `${mailbox}: ${byId} items matched by id, ${byStamp} by stamp, ${unmatched} not found${o.dryRun ? ' (dry run: nothing written)' : `; ${selectionFolders} selection folders found again; positions re-based`}`);
  return result;
}

/**
 * Every mailbox the state knows (mappings, selection folders), four at a time — Outlook serves
 * an app four requests at once, and each mailbox's requests come one after the other; the totals.
 */
export async function migrateStateToGraph(mailboxes: readonly string[], o: ExchangeMigrationOptions): Promise<{ mailboxes: MailboxMigration[]; byId: number; byStamp: number; unmatched: number }> {
  const limiter = new Limiter(4);
  const done = await Promise.all(mailboxes.map((mailbox) => limiter.run(() => migrateMailboxToGraph(mailbox, o))));
  const sum = (k: 'byId' | 'byStamp' | 'unmatched'): number => done.reduce((n, m) => n + m[k], 0);
  return { mailboxes: done, byId: sum('byId'), byStamp: sum('byStamp'), unmatched: sum('unmatched') };
}

/** Every mailbox the state knows: mappings and selection folders. */
async function knownMailboxes(mappings: ItemMappingStore, selections: SelectionFolderStore): Promise<string[]> {
  return [...new Set([...(await mappings.mailboxes()), ...(await selections.mailboxes())])].sort();
}

/** The state holds Graph's ids and positions, the configuration asks for EWS: refused (exit 2). */
export class StateOfAnotherProtocol extends Error {
  readonly code = 'STATE_OF_ANOTHER_PROTOCOL';
  constructor(readonly recorded: ExchangeProtocol, readonly current: ExchangeProtocol, schema: string) {
    super(`the sync state in schema "${schema}" holds Microsoft Graph's item ids and positions, and <advise> asks for EWS: going back from Graph to EWS is not supported. `
      + 'Advise GraphNotify or GraphDelta again, or start with --rebaseline to forget the mappings and positions (every mailbox is read anew, nothing is deleted in the CRM)');
  }
}

/**
 * At start, under one lock per state schema (a scale-out's replicas start together): the
 * state's ids and positions are made the configured protocol's. A state of EWS's, now reached
 * through Graph (the same organisation: the identity check has passed), is moved to Graph,
 * every mailbox in one transaction (a crash midway leaves the EWS state whole, moved again at
 * the next start); a state of Graph's is not taken back to EWS.
 */
export async function followProtocol(db: Database, schema: string, side: Pick<ExchangeSide, 'protocol' | 'translateEwsIds' | 'store'>, folders: readonly FolderKind[], logger: Logger, rebaseline = false): Promise<'new' | 'same' | 'migrated' | 'rebaselined'> {
  return db.transaction(async (tx) => {
    await lockProtocol(db, tx, schema);
    const positions = await SqlPositionStore.open(tx, schema);
    const mappings = new ItemMappingStore(tx, schema);
    const selections = new SelectionFolderStore(tx, schema);
    const mailboxes = await knownMailboxes(mappings, selections);
    const before = await recordedProtocol(positions, mailboxes.slice(0, 50));
    let outcome: 'new' | 'same' | 'migrated' | 'rebaselined' = before === undefined ? 'new' : 'same';
    if (before === 'graph' && side.protocol === 'ews') {
      if (!rebaseline) throw new StateOfAnotherProtocol(before, side.protocol, schema);
      await forgetState(tx, schema); // as for a state of another organisation
      logger.warn({ event: 'state.rebaselined', protocol: side.protocol }, 'the sync state held Microsoft Graph\'s ids: its mappings and positions are forgotten; every mailbox is read anew');
      outcome = 'rebaselined';
    }
    if (before === 'ews' && side.protocol === 'graph') {
      if (!side.translateEwsIds) throw new Error('the Graph side cannot translate EWS ids');
      const started = Date.now();
      logger.warn({ event: 'migration.started', mailboxes: mailboxes.length }, `the sync state holds EWS's item ids and positions, and <advise> asks for Microsoft Graph: moving ${mailboxes.length} mailboxes' state to Graph (nothing is written to the mailboxes or the CRM)`);
      const moved = await migrateStateToGraph(mailboxes, { mappings, selections, positions, store: side.store, translateEwsIds: side.translateEwsIds, folders, dryRun: false, logger });
      logger.warn({ event: 'migration.done', mailboxes: mailboxes.length, byId: moved.byId, byStamp: moved.byStamp, unmatched: moved.unmatched, seconds: (Date.now() - started) / 1000 },
        `moved to Microsoft Graph: ${mailboxes.length} mailboxes, ${moved.byId} items matched by id, ${moved.byStamp} by stamp, ${moved.unmatched} not found (deleted meanwhile: their records go with the first read) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      outcome = 'migrated';
    }
    await recordProtocol(positions, side.protocol);
    return outcome;
  });
}

/** `start --move-to-graph` when there is no EWS state to move, or the configuration does not advise Graph (exit 2). */
export class CannotMoveToGraph extends Error {
  readonly code = 'CANNOT_MOVE_TO_GRAPH';
}

/** --move-to-graph is only for a state of EWS's and a configuration that reaches the mailboxes over Graph. */
export async function assertMovableToGraph(db: Database, schema: string, protocol: ExchangeProtocol): Promise<void> {
  if (protocol !== 'graph') throw new CannotMoveToGraph('--move-to-graph needs <advise Object="GraphNotify"/> or <advise Object="GraphDelta"/> and <graph …> in the configuration');
  const positions = await SqlPositionStore.open(db, schema);
  const mailboxes = await knownMailboxes(new ItemMappingStore(db, schema), new SelectionFolderStore(db, schema));
  const before = await recordedProtocol(positions, mailboxes.slice(0, 50));
  if (before !== 'ews') throw new CannotMoveToGraph(`--move-to-graph: the sync state in schema "${schema}" ${before === 'graph' ? 'is Microsoft Graph\'s already' : 'holds no EWS state'}; start without it`);
}

/** One instance at a time changes which protocol a state's mailboxes are (a scale-out's replicas start together). */
export async function lockProtocol(db: Database, tx: Database, schema: string): Promise<void> {
  if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`exchange-crm-sync:protocol:${assertIdentifier(schema)}`]);
}

/**
 * Every mailbox the state knows gets its protocol recorded: the state's own for a state from
 * before mailboxes were placed one by one (a deployment that becomes hybrid).
 */
export async function recordPlacements(db: Database, schema: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockProtocol(db, tx, schema);
    const positions = await SqlPositionStore.open(tx, schema);
    const known = await knownMailboxes(new ItemMappingStore(tx, schema), new SelectionFolderStore(tx, schema));
    const recorded = await recordedMailboxProtocols(positions);
    const whole = (await recordedProtocol(positions, known.slice(0, 50))) ?? 'ews';
    for (const mailbox of known) if (!recorded.has(mailbox)) await recordMailboxProtocol(positions, mailbox, whole);
  });
}

/**
 * A hybrid organisation at start, under the same lock: every mailbox the state knows is
 * recorded with the protocol its ids are (the state's own, for a state from before the
 * placement was recorded); then each listed mailbox the operator has put online whose state is
 * on premises is moved to Graph, one transaction per mailbox (a crash leaves the rest for the
 * next start). Returns what each move found.
 */
export async function followPlacement(db: Database, schema: string, side: Pick<ExchangeSide, 'placement' | 'translateEwsIds' | 'graphStore'>, listed: readonly string[], folders: readonly FolderKind[], logger: Logger): Promise<MailboxMigration[]> {
  const placement = side.placement;
  if (!placement || !side.graphStore || !side.translateEwsIds) throw new Error('followPlacement is for a hybrid organisation');
  const lock = (tx: Database): Promise<void> => lockProtocol(db, tx, schema);
  await recordPlacements(db, schema);
  await placement.load(listed);
  const moves: MailboxMigration[] = [];
  for (const mailbox of placement.toMove(listed)) {
    const by = placement.homeOf(mailbox)?.by ?? 'the mailbox file';
    const started = Date.now();
    let moved: MailboxMigration | undefined;
    try {
      moved = await db.transaction(async (tx) => {
        await lock(tx);
        const positions = await SqlPositionStore.open(tx, schema);
        const again = (await recordedMailboxProtocols(positions)).get(mailbox);
        if (again !== 'ews') return undefined; // another instance moved it meanwhile
        return migrateMailboxToGraph(mailbox, {
          mappings: new ItemMappingStore(tx, schema), selections: new SelectionFolderStore(tx, schema), positions,
          store: side.graphStore!, translateEwsIds: side.translateEwsIds!, folders, dryRun: false, logger,
        });
      });
    } catch (err) {
      // the file is ahead of Exchange (the mailbox not moved yet) or Graph is out of reach: it stays on premises for now
      logger.error({ err, event: 'placement.move-failed', mailbox }, `${mailbox}: ${by} says it is online, and moving its sync state to Microsoft Graph failed (${(err as Error).message}); it is synced on premises until the next start or \`migrate --to graph ${mailbox}\``);
      continue;
    }
    placement.moved(mailbox, 'graph');
    if (moved) {
      moves.push(moved);
      logger.warn({ event: 'placement.moved', mailbox, by, seconds: (Date.now() - started) / 1000 }, `${mailbox} is in Exchange Online now (${by} says so): synced through Microsoft Graph from here on`);
    }
  }
  return moves;
}
