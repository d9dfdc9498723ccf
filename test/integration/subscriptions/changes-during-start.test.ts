import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { createSource, MutableDirectory, outOfOrder, unsurfaced, waitUntil } from '../../helpers/source-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A process that keeps one core busy: the machine loaded, as on a busy server. */
function burnCpu(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

// A change made while the sync starts — before a mailbox is subscribed, between its Subscribe
// and its first SyncFolderItems, during that sync's pages, after it — must surface: users do
// not wait for the sync to be up. (Once a task made in the first seconds of `npm start` stayed
// missing until a manual resync.)
for (const mode of ['stream', 'pull'] as const) {
  describe(`${mode === 'stream' ? 'EwsStream' : 'EwsPull'}: items made in every folder during the first start of 300 mailboxes, the machine loaded`, () => {
    it('every change surfaces, in order per item', { timeout: 150_000 }, async () => {
      const sandbox = await startSandbox({ mailboxes: 300, itemsPerMailbox: 3, seed: mode === 'stream' ? 31 : 32, limits: { heartbeatMs: 500 } });
      const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
      const { source, exchange, seen } = createSource(mode, sandbox, new MemoryPositionStore(), directory);
      const burner = burnCpu();
      try {
        const journalStart = sandbox.activity.journal.length;
        sandbox.activity.setRate(150);
        await sleep(300);
        source.start();
        await waitUntil(() => source.stats().initialSyncDone === 300, 90_000, 'the initial sync of 300 mailboxes');
        await sleep(1_000);
        sandbox.activity.stop();
        const journal = sandbox.activity.journal.slice(journalStart);
        const folders = new Set(journal.map((j) => j.folder));
        assert.deepEqual([...folders].sort(), ['calendar', 'tasks'], 'changes in every folder');
        assert.ok(journal.length > 200, `the generator made ${journal.length} changes`);
        // an item of the mailbox's own deleted before its first SyncFolderItems was never there for the sync
        const created = new Set(journal.filter((j) => j.op === 'c').map((j) => j.itemId));
        const deleted = new Set(journal.filter((j) => j.op === 'd').map((j) => j.itemId));
        const neverThere = (id: string): boolean => deleted.has(id) && !created.has(id) && !seen.has(id);
        const owed = (): string[] => unsurfaced(journal.filter((j) => !neverThere(j.itemId)), seen);
        await waitUntil(() => owed().length === 0, 60_000, 'every change to surface').catch((err: Error) => {
          throw new Error(`${err.message}: ${owed().slice(0, 5).join('; ')}`);
        });
        assert.deepEqual(outOfOrder(seen), []);
      } finally {
        burner.kill('SIGKILL');
        await source.stop();
        await exchange.close();
        await sandbox.close();
      }
    });
  });
}
