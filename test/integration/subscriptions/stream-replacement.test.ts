import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { createSource, MutableDirectory, unsurfaced, waitUntil } from '../../helpers/source-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The newest GetStreamingEvents to reach Exchange takes the subscriptions it names. When a
// connection is replaced (a mailbox joined its group) while the previous request is still on its
// way — a slow network, a loaded server — the replacement can arrive first; the older request
// then takes the subscriptions back, and closing it leaves them on no connection at all: their
// events wait on the server, unseen, until the next scheduled reconnect. (Seen on a first
// start of 200 mailboxes on a loaded machine: three mailboxes' changes never reached the CRM.)
describe('EwsStream: a group\'s connection replaced while the previous GetStreamingEvents is still on its way', () => {
  it('the replacement waits for the server to take the previous one, and every mailbox\'s changes keep coming', { timeout: 90_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 2, seed: 41, limits: { heartbeatMs: 500 } });
    const [first, second, third, late] = sandbox.store.all().map((m) => m.address);
    const directory = new MutableDirectory([first!, second!, third!]);
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), directory);
    const streamingRequests = (): number => sandbox.stats.requestsByOperation.get('GetStreamingEvents') ?? 0;
    try {
      // the group's first GetStreamingEvents takes 1.5 s to reach the server; later ones are fast
      sandbox.setLatency(1_500, ['GetStreamingEvents']);
      source.start();
      await waitUntil(() => streamingRequests() >= 1, 30_000, 'the first GetStreamingEvents to be on its way');
      sandbox.setLatency(0);
      directory.addresses.push(late!);
      await waitUntil(() => source.stats().initialSyncDone === 4, 30_000, 'the fourth mailbox to join the group');
      // the first request has arrived, and any connection replaced meanwhile is closed (after its overlap)
      await sleep(5_000);
      const journalStart = sandbox.activity.journal.length;
      sandbox.activity.setRate(20);
      await sleep(2_000);
      sandbox.activity.stop();
      const journal = sandbox.activity.journal.slice(journalStart);
      assert.deepEqual(new Set(journal.map((j) => j.mailbox)).size, 4, 'changes in every mailbox');
      // well before the connection's scheduled replacement (45 s), which would hide the loss
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 15_000, 'every change to surface').catch((err: Error) => {
        throw new Error(`${err.message}: ${unsurfaced(journal, seen).slice(0, 5).join('; ')}`);
      });
      assert.equal(sandbox.openConnections.size, 1, 'one connection serves the group');
    } finally {
      await source.stop();
      await exchange.close();
      await sandbox.close();
    }
  });
});
