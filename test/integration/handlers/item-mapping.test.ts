import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ItemMappingStore } from '../../../src/handlers/index.js';
import { PgDatabase } from '../../../src/state/index.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

describe('ItemMappingStore.itemsIn (what a full resync compares with)', () => {
  let db: PgDatabase;
  let store: ItemMappingStore;
  const schema = uniqueName('map');

  before(async () => {
    db = new PgDatabase(postgresUrl());
    await ItemMappingStore.migrate(db, schema);
    store = new ItemMappingStore(db, schema);
  });
  after(async () => {
    await db.query(`drop schema if exists ${schema} cascade`);
    await db.close();
  });

  it('lists a folder\'s live items mapped before a time: no tombstones, no exception keys, no other folder or mailbox, nothing mapped later', async () => {
    const m = (itemId: string, folder: 'calendar' | 'tasks' | 'contacts', extra: { deleted?: boolean; mailbox?: string } = {}) => store.save({
      mailbox: extra.mailbox ?? 'a@contoso.test', itemId, crmId: `appointment:${itemId}`, changeKey: 'ck', crmVersion: '1', logPartition: -1, logOffset: -1, deleted: extra.deleted ?? false, folder,
    });
    await m('cal-1', 'calendar');
    await m('cal-gone', 'calendar', { deleted: true });
    await m('cal-1@2026-12-01T09:00:00Z', 'calendar');
    await m('task-1', 'tasks');
    await m('cal-other', 'calendar', { mailbox: 'b@contoso.test' });
    await new Promise((r) => setTimeout(r, 50));
    const snapshotBegan = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await m('cal-late', 'calendar'); // made by the CRM side while the resync ran: the snapshot may not list it
    assert.deepEqual(await store.itemsIn('a@contoso.test', 'calendar', snapshotBegan), ['cal-1']);
    assert.deepEqual((await store.itemsIn('a@contoso.test', 'calendar', Date.now() + 1_000)).sort(), ['cal-1', 'cal-late']);
    assert.deepEqual(await store.itemsIn('a@contoso.test', 'tasks', Date.now() + 1_000), ['task-1']);
  });
});
