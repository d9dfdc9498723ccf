// Moving a mailbox's sync state from EWS to Graph: the mapping store, selection folders and
// positions on in-memory PGlite, the Graph side a fake (translation, listing, stamps).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FolderKind, MailboxStore } from '../../../src/exchange/index.js';
import { ItemMappingStore, SelectionFolderStore, type ItemMapping } from '../../../src/handlers/index.js';
import { migrateMailboxToGraph, type ExchangeMigrationOptions } from '../../../src/ops/exchange-migration.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgliteDatabase, SqlPositionStore } from '../../../src/state/index.js';

const MB = 'ann@contoso.test';
let db: PgliteDatabase;
let n = 0;
let mappings: ItemMappingStore;
let selections: SelectionFolderStore;
let positions: SqlPositionStore;

before(async () => {
  db = await PgliteDatabase.open(null);
});
after(() => db.close());
beforeEach(async () => {
  const schema = `mig_${++n}`;
  await ItemMappingStore.migrate(db, schema);
  await SelectionFolderStore.migrate(db, schema);
  mappings = new ItemMappingStore(db, schema);
  selections = new SelectionFolderStore(db, schema);
  positions = await SqlPositionStore.open(db, schema);
});

const mapping = (itemId: string, crmId: string, extra: Partial<ItemMapping> = {}): ItemMapping => ({
  mailbox: MB, itemId, crmId, changeKey: 'ck', crmVersion: 'v1', logPartition: 0, logOffset: 1, deleted: false, folder: 'calendar', ...extra,
});

/** EWS ids translate by the restId rule; the Graph side lists `listed` and finds `stamped` by CRM id. */
function options(listed: Record<string, string[]>, stamped: Record<string, string>, dryRun = false): ExchangeMigrationOptions & { writes: string[] } {
  const writes: string[] = [];
  const store = {
    listFolder: async (_m: string, folder: FolderKind) => (listed[folder] ?? []).map((itemId) => ({ itemId })),
    findStamped: async (_m: string, _f: FolderKind, crmId: string) => (stamped[crmId] ? { itemId: stamped[crmId], changeKey: 'x' } : undefined),
    ensureContactFolder: async (_m: string, name: string) => (writes.push(`folder ${name}`), `graph-folder-${name}`),
    stampedIn: async () => new Map([['person:1', { itemId: 'graph-copy-1', changeKey: 'c' }]]),
  } as unknown as MailboxStore;
  return {
    mappings, selections, positions, store, folders: ['calendar', 'tasks', 'contacts'], dryRun, logger: silentLogger(), writes,
    translateEwsIds: async (_m, ids) => new Map(ids.filter((id) => !id.startsWith('bad')).map((id) => [id, id.replace(/\//g, '-').replace(/\+/g, '_')])),
  };
}

describe('moving a mailbox\'s state from EWS to Graph', () => {
  it('renames each mapping to the Graph id found (by translation, else by stamp), exceptions and tombstones with it; re-bases positions', async () => {
    await mappings.save(mapping('a+b/', 'appointment:1'));
    await mappings.save(mapping('a+b/@2026-12-14T08:00:00Z', 'appointment:2'));
    await mappings.save(mapping('bad+1', 'appointment:3'));
    await mappings.save(mapping('gone/1', 'appointment:4'));
    await mappings.save(mapping('old+del', 'appointment:5', { deleted: true, deletedBy: 'exchange' }));
    await mappings.save(mapping('t+1', 'appointment:6', { folder: 'tasks' }));
    await positions.save(`exchange:${MB}:calendar`, 'ews-sync-state');
    await positions.save(`folders:${MB}`, '{}');
    await positions.save(`unconfirmed:${MB}:calendar`, JSON.stringify(['a+b/']));
    await positions.save(`exchange:bob@contoso.test:calendar`, 'another mailbox');
    const o = options({ calendar: ['a_b-'], tasks: ['t_1'] }, { 'appointment:3': 'found-by-stamp' });
    const r = await migrateMailboxToGraph(MB, o);
    assert.deepEqual({ byId: r.byId, byStamp: r.byStamp, unmatched: r.unmatched }, { byId: 2, byStamp: 1, unmatched: 1 });
    const ids = (await mappings.allOfMailbox(MB)).map((m) => `${m.itemId} ${m.crmId}${m.deleted ? ' deleted' : ''}`).sort();
    assert.deepEqual(ids, [
      'a_b- appointment:1', 'a_b-@2026-12-14T08:00:00Z appointment:2', 'found-by-stamp appointment:3', 'gone-1 appointment:4', 'old_del appointment:5 deleted', 't_1 appointment:6',
    ]);
    assert.equal(await positions.get(`exchange:${MB}:calendar`), undefined, 'the next read is a full one');
    assert.equal(await positions.get(`folders:${MB}`), undefined);
    assert.equal(await positions.get(`unconfirmed:${MB}:calendar`), JSON.stringify(['a_b-']));
    assert.equal(await positions.get(`exchange:bob@contoso.test:calendar`), 'another mailbox', 'other mailboxes are not touched');
    assert.deepEqual(o.writes, [], 'no selection folders: nothing asked of the mailbox');
    // again: the ids are Graph's already, found as they are; nothing changes
    const again = await migrateMailboxToGraph(MB, options({ calendar: ['a_b-', 'found-by-stamp'], tasks: ['t_1'] }, {}));
    assert.deepEqual({ byId: again.byId, byStamp: again.byStamp, unmatched: again.unmatched }, { byId: 3, byStamp: 0, unmatched: 1 });
    assert.deepEqual((await mappings.allOfMailbox(MB)).map((m) => m.itemId).sort(), ['a_b-', 'a_b-@2026-12-14T08:00:00Z', 'found-by-stamp', 'gone-1', 'old_del', 't_1']);
  });

  it('a dry run counts and writes nothing', async () => {
    await mappings.save(mapping('a+b/', 'appointment:1'));
    await positions.save(`exchange:${MB}:calendar`, 'ews-sync-state');
    await selections.saveFolder({ mailbox: MB, selectionRef: 'selection:1', folderId: 'ews-folder', name: 'Customers' });
    const o = options({ calendar: ['a_b-'] }, {}, true);
    const r = await migrateMailboxToGraph(MB, o);
    assert.deepEqual({ byId: r.byId, selectionFolders: r.selectionFolders }, { byId: 1, selectionFolders: 0 });
    assert.deepEqual((await mappings.allOfMailbox(MB)).map((m) => m.itemId), ['a+b/']);
    assert.equal(await positions.get(`exchange:${MB}:calendar`), 'ews-sync-state');
    assert.deepEqual(o.writes, []);
    assert.equal((await selections.foldersIn(MB))[0].folderId, 'ews-folder');
  });

  it('a selection folder is found again by its name, its copies by their stamps; a copy not found is forgotten (written again by the next reconciliation)', async () => {
    await selections.saveFolder({ mailbox: MB, selectionRef: 'selection:1', folderId: 'ews-folder', name: 'Customers' });
    await selections.saveCopies([
      { mailbox: MB, selectionRef: 'selection:1', personRef: 'person:1', itemId: 'ews+copy1', personVersion: 'v1' },
      { mailbox: MB, selectionRef: 'selection:1', personRef: 'person:2', itemId: 'ews+copy2', personVersion: 'v1' },
    ]);
    const o = options({}, {});
    const r = await migrateMailboxToGraph(MB, o);
    assert.equal(r.selectionFolders, 1);
    assert.deepEqual(o.writes, ['folder Customers']);
    assert.equal((await selections.foldersIn(MB))[0].folderId, 'graph-folder-Customers');
    assert.deepEqual([...(await selections.copiesIn(MB, 'selection:1')).values()].map((c) => [c.personRef, c.itemId]), [['person:1', 'graph-copy-1']]);
  });
});
