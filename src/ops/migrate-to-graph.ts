import { Registry } from 'prom-client';
import type { SyncConfig } from '../config/index.js';
import { openCrm, type MappedRecords } from '../crm-adapter/index.js';
import type { FolderKind } from '../exchange/index.js';
import { ItemMappingStore, SelectionFolderStore } from '../handlers/index.js';
import { ExchangeError } from '../shared/errors.js';
import { Limiter } from '../shared/limiter.js';
import type { Logger } from '../shared/logger.js';
import { openDatabase, SqlPositionStore, type Database } from '../state/index.js';
import { openExchangeSide, recordedMailboxProtocols, type ExchangeSide } from '../subscriptions/index.js';
import { lockDataFolders } from './data-folders.js';
import { lockProtocol, migrateMailboxToGraph, recordPlacements, type MailboxMigration } from './exchange-migration.js';
import { migrateState } from './migrate-state.js';
import { verifyMailbox, type MailboxVerdict, type VerifyOptions } from './verify.js';

export interface MigrationRequest {
  /** The mailboxes to move; empty with `all`: every mailbox the state has on premises. */
  readonly mailboxes: readonly string[];
  readonly all: boolean;
  readonly dryRun: boolean;
  readonly batchSize: number;
}

/** One mailbox of a run: what the move found, and verify before (where EWS still answers) and after. */
export interface MovedMailbox extends MailboxMigration {
  readonly before?: MailboxVerdict;
  readonly after?: MailboxVerdict;
  /** Not moved: why (not in Exchange Online yet, not on premises in the state). */
  readonly skipped?: string;
}

export interface MigrationReport {
  readonly mailboxes: readonly MovedMailbox[];
  readonly moved: number;
  readonly byId: number;
  readonly byStamp: number;
  readonly unmatched: number;
  readonly seconds: number;
  /** The batch that did not come through whole (the run stopped there), if any. */
  readonly stoppedAt?: number;
  /** The report as the operator reads it, line by line. */
  readonly lines: readonly string[];
}

/** What a run needs, offline (`migrate` with the sync stopped) or inside the running sync. */
export interface MigrationWorld {
  /** Every mailbox's recorded protocol. */
  recorded(): Promise<Map<string, 'ews' | 'graph'>>;
  /** Moves one mailbox's state (or, dry, says what a move would find). */
  move(mailbox: string, dryRun: boolean): Promise<MailboxMigration>;
  /** Compares one mailbox with the CRM, over EWS (before) or Graph (after). */
  verify(mailbox: string, over: 'ews' | 'graph'): Promise<MailboxVerdict>;
}

/** A configuration `migrate --to graph` cannot work with: said with what to change (exit 2). */
export class CannotMigrate extends Error {
  readonly code = 'CANNOT_MIGRATE';
}

/**
 * A mailbox that did not come through whole: mapped items the move found neither by id nor by
 * stamp (deleted while the sync was stopped, or another mailbox than the one synced), verify
 * over Graph failing, or more disagreements after than before (where EWS still answered before;
 * changes users made meanwhile show in both and are no reason to stop).
 */
function apart(m: MovedMailbox): boolean {
  if (m.unmatched > 0 || !m.after || m.after.error) return true;
  return !!m.before && !m.before.error && m.after.disagreements.length > m.before.disagreements.length;
}

const describeVerdict = (v: MailboxVerdict | undefined): string => {
  if (!v) return 'not compared';
  if (v.error) return `not compared (${v.error})`;
  if (!v.disagreements.length) return `agrees (${v.items} items)`;
  const by = new Map<string, number>();
  for (const d of v.disagreements) by.set(d.kind, (by.get(d.kind) ?? 0) + 1);
  return `APART: ${[...by].map(([k, n]) => `${n} ${k}`).join(', ')} of ${v.items} items`;
};

const failedVerdict = (mailbox: string, err: Error): MailboxVerdict => ({ mailbox, items: 0, records: 0, disagreements: [], error: err.message });

/**
 * A hybrid organisation's mailboxes that Exchange has moved to Exchange Online get their sync
 * state moved too, in batches: each mailbox compared with the CRM before (over EWS, where it
 * still answers), its mappings carried to Graph's ids (translated, else found by our stamp)
 * and its positions re-based, then compared again over Graph. A batch with a mailbox that did
 * not come through whole stops the run. Nothing is written to a mailbox or the CRM. A dry run
 * reports what the move would find and writes nothing.
 */
export async function runMigration(world: MigrationWorld, request: MigrationRequest, out: (line: string) => void): Promise<MigrationReport> {
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    out(line);
  };
  const recorded = await world.recorded();
  const asked = request.all ? [...recorded].filter(([, p]) => p === 'ews').map(([m]) => m).sort() : [...new Set(request.mailboxes.map((m) => m.trim().toLowerCase()))];
  const started = Date.now();
  const done: MovedMailbox[] = [];
  let stoppedAt: number | undefined;
  const moveOne = async (mailbox: string): Promise<MovedMailbox> => {
    const empty = { mailbox, byId: 0, byStamp: 0, unmatched: 0, selectionFolders: 0 };
    const now = (await world.recorded()).get(mailbox);
    if (now === 'graph') return { ...empty, skipped: 'synced through Microsoft Graph already' };
    if (now === undefined) return { ...empty, skipped: 'the sync state has no such mailbox' };
    // before: over EWS while the on-premises server still serves it (after Exchange's move it does not)
    const before = await world.verify(mailbox, 'ews').catch((err: Error) => failedVerdict(mailbox, err));
    try {
      const migration = await world.move(mailbox, request.dryRun);
      if (request.dryRun) return { ...migration, before };
      const after = await world.verify(mailbox, 'graph').catch((err: Error) => failedVerdict(mailbox, err));
      return { ...migration, before, after };
    } catch (err) {
      if (err instanceof ExchangeError && err.category === 'mailbox-unavailable') return { ...empty, skipped: `not in Exchange Online yet (${err.protocolCode}): move the mailbox in Exchange first` };
      throw err;
    }
  };
  for (let b = 0; b * request.batchSize < asked.length && stoppedAt === undefined; b++) {
    const batch = asked.slice(b * request.batchSize, (b + 1) * request.batchSize);
    say(`batch ${b + 1} of ${Math.ceil(asked.length / request.batchSize)}: ${batch.length} mailboxes${request.dryRun ? ' (dry run: nothing is written)' : ''}`);
    let worse = 0;
    // four mailboxes at a time (each one's requests one after the other), reported in order
    const limiter = new Limiter(4);
    const results = await Promise.all(batch.map((mailbox) => limiter.run(() => moveOne(mailbox))));
    for (const [i, mailbox] of batch.entries()) {
      const result = results[i];
      done.push(result);
      say(`  ${mailbox}: ${result.skipped ?? `${result.byId} matched by id, ${result.byStamp} by stamp, ${result.unmatched} not found; verify before: ${describeVerdict(result.before)}${request.dryRun ? '' : `, after: ${describeVerdict(result.after)}`}`}`);
      if (!result.skipped && !request.dryRun && apart(result)) worse++;
    }
    if (worse) {
      stoppedAt = b + 1;
      say(`batch ${b + 1}: ${worse} mailbox(es) did not come through whole (mapped items not found, or further apart from the CRM than before the move): stopping here. The mailboxes moved stay moved; let the sync catch up (items deleted meanwhile then leave the CRM), run verify --all, then migrate the rest`);
    }
  }
  const moved = done.filter((m) => !m.skipped);
  const sum = (k: 'byId' | 'byStamp' | 'unmatched'): number => moved.reduce((n, m) => n + m[k], 0);
  const seconds = (Date.now() - started) / 1000;
  const per100 = moved.length ? ` (${((seconds / moved.length) * 100).toFixed(1)} s per 100 mailboxes)` : '';
  say(`${request.dryRun ? 'would move' : 'moved'} ${moved.length} of ${asked.length} mailboxes to Microsoft Graph in ${seconds.toFixed(1)} s${per100}: ${sum('byId')} items matched by id, ${sum('byStamp')} by stamp, ${sum('unmatched')} not found${done.length - moved.length ? `; ${done.length - moved.length} skipped` : ''}`);
  return { mailboxes: done, moved: moved.length, byId: sum('byId'), byStamp: sum('byStamp'), unmatched: sum('unmatched'), seconds, ...(stoppedAt ? { stoppedAt } : {}), lines };
}

/** The folders verify compares for a configuration and a side. */
export const verifiedFolders = (config: SyncConfig, side: Pick<ExchangeSide, 'servedItems'>): FolderKind[] =>
  config.sync.items.filter((i) => side.servedItems.includes(i)).map((i): FolderKind => (i === 'appointments' ? 'calendar' : i));

/**
 * `exchange-crm-sync migrate --to graph` with the sync stopped: opens the state, the CRM and
 * both sides itself, and moves each mailbox in a transaction of its own.
 */
export async function migrateToGraph(config: SyncConfig, request: MigrationRequest, logger: Logger, out: (line: string) => void): Promise<MigrationReport> {
  if (!config.exchange.online) {
    throw new CannotMigrate(config.exchange.mode.startsWith('Graph')
      ? `${config.file}: advise ${config.exchange.mode} syncs every mailbox through Microsoft Graph: the next start moves the whole state (see the README, "Exchange Online (Graph)"); migrate is for a hybrid organisation (<advise Object="EwsStream" online="GraphNotify"/>)`
      : `${config.file}: migrate --to graph needs a hybrid organisation: <advise Object="${config.exchange.mode}" online="GraphNotify"/> (or GraphDelta) with both <ews> and <graph>`);
  }
  if (config.exchange.ews.url === null) throw new CannotMigrate(`${config.file}: the built-in sandbox stands in for Exchange (no <ews url>): its mailboxes are seen through both protocols and need no move`);
  const folders = lockDataFolders(config, logger); // an embedded state in use by a running sync is refused here
  const crmDb = config.crm.type === 'superoffice' ? undefined : await openDatabase({ type: config.crm.type, url: config.crm.url, path: config.crm.path, poolSize: 2 });
  const db: Database = config.state.shared && crmDb ? crmDb : await openDatabase({ ...config.state, poolSize: 2 });
  let side: ExchangeSide | undefined;
  let crmClose: (() => Promise<void>) | undefined;
  try {
    await migrateState(db, config.state.schema);
    const schema = config.state.schema;
    const positions = await SqlPositionStore.open(db, schema);
    side = openExchangeSide(config, { registry: new Registry(), logger, positions });
    const placement = side.placement!;
    await recordPlacements(db, schema);
    await placement.load();
    const none: MappedRecords = { page: async () => [], mailboxOf: async () => undefined };
    const opened = await openCrm(config, { referenceDatabase: crmDb, mapped: none, registry: new Registry(), logger });
    crmClose = () => opened.close();
    const opens = side;
    const verifyOptions = (exchange: VerifyOptions['exchange']): VerifyOptions => ({
      exchange, crm: opened.crm, mappings: new ItemMappingStore(db, schema), folders: verifiedFolders(config, opens),
      windowPastDays: config.sync.windowPastDays, windowFutureDays: config.sync.windowFutureDays,
    });
    return await runMigration({
      recorded: () => recordedMailboxProtocols(positions),
      verify: (mailbox, over) => verifyMailbox(verifyOptions(over === 'ews' ? opens.store : opens.graphStore!), mailbox),
      move: async (mailbox, dryRun) => {
        const migration = await db.transaction(async (tx) => {
          await lockProtocol(db, tx, schema);
          return migrateMailboxToGraph(mailbox, {
            mappings: new ItemMappingStore(tx, schema), selections: new SelectionFolderStore(tx, schema), positions: await SqlPositionStore.open(tx, schema),
            store: opens.graphStore!, translateEwsIds: opens.translateEwsIds!, folders: ['calendar', 'tasks', 'contacts'], dryRun, logger,
          });
        });
        if (!dryRun) placement.moved(mailbox, 'graph');
        return migration;
      },
    }, request, out);
  } finally {
    await crmClose?.();
    await side?.close();
    if (db !== crmDb) await db.close();
    await crmDb?.close();
    for (const f of folders) f.release();
  }
}
