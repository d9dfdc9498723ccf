// #17.3: a full resync lists only what exists. Items the sync had mapped that the snapshot
// no longer lists were deleted while no SyncState could tell: their deletes are sent on
// (sync@snapshotDeletes="apply") or only reported ("report"). Only mappings made before the
// resync began count (ItemMappingStore.itemsIn: an item the CRM created meanwhile is not in
// the snapshot and not deleted — handlers/item-mapping.test.ts); one mapped just before or
// during it that the snapshot did not list is read again ('r': gone, it becomes a delete).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { positionKey } from '../../../src/subscriptions/folder-syncer.js';
import { createSource, MutableDirectory, waitUntil } from '../../helpers/source-harness.js';

for (const policy of ['apply', 'report'] as const) {
  describe(`after a full resync (snapshotDeletes="${policy}")`, () => {
    it(`mapped items the snapshot no longer lists are ${policy === 'apply' ? 'signalled as deletes' : 'only reported'}; items mapped after it began are left alone`, async () => {
      const sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 6, seed: 3, limits: { heartbeatMs: 300 } });
      const mailbox = sandbox.store.byIndex(1)!;
      const positions = new MemoryPositionStore();
      const directory = new MutableDirectory([mailbox.address]);
      const ids = (folder: string): string[] => sandbox.store.itemsIn(mailbox, folder).map((i) => itemIdOf(mailbox.index, i.seq));
      // what the sync has mapped (ItemMappingStore.itemsIn): every item as it is now
      const mapped = new Map([['calendar', ids('calendar')], ['tasks', ids('tasks')]]);
      const asked: number[] = [];
      // mapped in the last minute, and deleted since: neither listed nor old enough to be called deleted
      const recent = itemIdOf(mailbox.index, 9_999);
      const knownItems = async (_m: string, folder: string, before: number): Promise<string[]> => {
        asked.push(before);
        const all = mapped.get(folder) ?? [];
        return before > Date.now() && folder === 'calendar' ? [...all, recent] : all;
      };
      const gone: string[] = [];
      const first = createSource('stream', sandbox, positions, directory, { folders: ['calendar', 'tasks'] });
      first.source.start();
      await waitUntil(() => first.source.stats().initialSyncDone === 1, 20_000, 'the first sync');
      await first.source.stop();
      await first.exchange.close();
      // while nobody syncs: two calendar items deleted, and the calendar's SyncState becomes invalid (a moved mailbox)
      for (const item of sandbox.store.itemsIn(mailbox, 'calendar').slice(0, 2)) {
        gone.push(itemIdOf(mailbox.index, item.seq));
        sandbox.store.deleteItem(mailbox, item);
      }
      await positions.save(positionKey(mailbox.address, 'calendar'), 'AAAAbm90IGEgc3RhdGU=');
      const second = createSource('stream', sandbox, positions, directory, { folders: ['calendar', 'tasks'], knownItems, snapshotDeletes: policy });
      const signals: Array<{ op: string; itemId: string; folder: string }> = [];
      second.source.signals.subscribe((s) => signals.push({ op: s.op, itemId: s.itemId, folder: s.folder }));
      try {
        second.source.start();
        await waitUntil(() => second.source.stats().initialSyncDone === 1 && asked.length >= 2, 20_000, 'the full resync');
        await new Promise((r) => setTimeout(r, 500));
        const deletes = signals.filter((s) => s.op === 'd').map((s) => s.itemId).sort();
        if (policy === 'apply') assert.deepEqual(deletes, [...gone].sort(), 'the two deleted items, and nothing else');
        else assert.deepEqual(deletes, [], 'reported only');
        const resynced = new Set(signals.filter((s) => s.op === 'r').map((s) => s.itemId));
        assert.deepEqual(ids('calendar').filter((id) => !resynced.has(id)), [], 'the calendar items that exist come again as a resync');
        assert.ok(asked[0] <= Date.now() - 60_000, 'deletes only of what was mapped a minute before the resync began');
        assert.deepEqual(signals.filter((s) => s.itemId === recent).map((s) => s.op), ['r'], 'the recently mapped item the snapshot did not list is read again, not deleted unread');
      } finally {
        await second.source.stop();
        await second.exchange.close();
        await sandbox.close();
      }
    });
  });
}
