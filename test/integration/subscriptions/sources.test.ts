import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { ClientSendAudit } from '../../helpers/client-sends.js';
import { createSource, MutableDirectory, outOfOrder, unsurfaced, waitUntil } from '../../helpers/source-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Enough for three affinity groups of 200 (the benchmark runs 10,000). */
const MAILBOXES = 500;

for (const mode of ['stream', 'pull'] as const) {
  describe(`${mode === 'stream' ? 'EwsStream' : 'EwsPull'}: ${MAILBOXES} mailboxes through drops, a server restart and a throttling storm`, () => {
    it('surfaces every change the generator made, in order per item, never sooner than BackOffMilliseconds', async (t) => {
      const sandbox = await startSandbox({ mailboxes: MAILBOXES, itemsPerMailbox: 2, seed: mode === 'stream' ? 11 : 12, limits: { heartbeatMs: 500 } });
      const positions = new MemoryPositionStore();
      const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
      // the back-off rule measured at the client: its own writes against the busy answers it got
      const sends = new ClientSendAudit(sandbox.port);
      const { source, exchange, seen } = createSource(mode, sandbox, positions, directory, {}, {}, { gate: sends.gate });
      try {
        source.start();
        await waitUntil(() => source.stats().initialSyncDone === MAILBOXES, 90_000, `the initial sync of ${MAILBOXES} mailboxes`);
        assert.equal(sandbox.stats.fullSyncs, 2 * MAILBOXES, 'one full SyncFolderItems per folder');
        if (mode === 'stream') {
          await waitUntil(() => sandbox.openConnections.size === Math.ceil(MAILBOXES / 200), 10_000, 'a streaming connection per 200 mailboxes');
          assert.equal(sandbox.openConnections.size, Math.ceil(MAILBOXES / 200), `ceil(${MAILBOXES} / 200) connections`);
        }
        const journalStart = sandbox.activity.journal.length;
        sandbox.activity.setRate(60);
        await sleep(1_500);
        sandbox.dropConnections();
        await sleep(1_500);
        sandbox.restart();
        await sleep(2_000);
        sandbox.throttle(0.3, 300);
        await sleep(2_000);
        sandbox.throttle(0);
        await sleep(1_000);
        sandbox.activity.stop();
        const journal = sandbox.activity.journal.slice(journalStart);
        assert.ok(journal.length > 300, `the generator made ${journal.length} changes`);
        await waitUntil(() => unsurfaced(journal, seen).length === 0, 60_000, 'every change to surface').catch((err: Error) => {
          throw new Error(`${err.message}: ${unsurfaced(journal, seen).slice(0, 5).join('; ')}`);
        });
        assert.deepEqual(outOfOrder(seen), []);
        assert.ok(sandbox.stats.throttled > 0, 'the storm did throttle');
        const client = sends.violations();
        assert.ok(client.busyAnswers > 0 && client.writes > 0, 'the client got busy answers and kept sending');
        assert.equal(client.count, 0, `the client sent ${client.count} request(s) sooner than the BackOffMilliseconds it had been given (worst by ${client.worstMs} ms)`);
        // the server's view of the same rule (when it read each request) moves with its own stalls: said, not asserted
        t.diagnostic(`${mode}: ${client.busyAnswers} busy answers, ${client.writes} client writes, 0 early; the server counted ${sandbox.stats.backoffViolations} early reads (worst ${sandbox.stats.worstBackoffShortfallMs} ms)`);
        assert.equal(source.stats().mailboxes, MAILBOXES);
        await waitUntil(() => source.mailboxes.countByState().active === MAILBOXES, 30_000, 'all mailboxes active again');
      } finally {
        sends.close();
        await source.stop();
        await exchange.close();
        await sandbox.close();
      }
    });
  });
}

describe('restart: stop the source mid-stream, start it again', () => {
  it('misses nothing and resumes incrementally from the saved SyncStates (no full resync)', async () => {
    const sandbox = await startSandbox({ mailboxes: 50, itemsPerMailbox: 3, seed: 21, limits: { heartbeatMs: 500 } });
    const positions = new MemoryPositionStore();
    const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
    const first = createSource('stream', sandbox, positions, directory);
    first.source.start();
    await waitUntil(() => first.source.stats().initialSyncDone === 50, 30_000, 'initial sync');
    const journalStart = sandbox.activity.journal.length;
    sandbox.activity.setRate(50);
    await sleep(1_000);
    await first.source.stop();
    await first.exchange.close();
    // changes while nobody listens
    await sleep(1_000);
    sandbox.activity.stop();
    const fullSyncsBefore = sandbox.stats.fullSyncs;
    const second = createSource('stream', sandbox, positions, directory);
    try {
      second.source.start();
      const journal = sandbox.activity.journal.slice(journalStart);
      const merged = new Map(first.seen);
      const combined = (): typeof merged => {
        for (const [k, v] of second.seen) merged.set(k, [...(first.seen.get(k) ?? []), ...v]);
        return merged;
      };
      await waitUntil(() => unsurfaced(journal, combined()).length === 0, 30_000, 'every change to surface after the restart').catch((err: Error) => {
        throw new Error(`${err.message}: ${unsurfaced(journal, combined()).slice(0, 5).join('; ')}`);
      });
      assert.equal(sandbox.stats.fullSyncs, fullSyncsBefore, 'the restart synced incrementally from saved SyncStates');
      const resynced = [...second.seen.values()].flat().length;
      assert.ok(resynced <= journal.length + 10, `only what changed came again (${resynced} signals for ${journal.length} changes)`);
    } finally {
      await second.source.stop();
      await second.exchange.close();
      await sandbox.close();
    }
  });
});

describe('mailbox failures and the mailbox list', () => {
  it('a denied or missing mailbox is failed with its reason and never stops the others; it recovers when allowed', async () => {
    const sandbox = await startSandbox({ mailboxes: 6, itemsPerMailbox: 1, limits: { heartbeatMs: 500 } });
    sandbox.store.byEmail('user0003@contoso.test')!.denied = true;
    const directory = new MutableDirectory([...sandbox.store.all().map((m) => m.address), 'ghost@contoso.test']);
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), directory);
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 5 && source.mailboxes.countByState().failed === 2, 20_000, '5 active, 2 failed');
      assert.match(source.mailboxes.get('user0003@contoso.test')!.reason!, /ErrorImpersonateUserDenied/);
      assert.match(source.mailboxes.get('ghost@contoso.test')!.reason!, /ErrorNonExistentMailbox/);
      sandbox.activity.mailboxFilter = (m) => m.index === 1;
      sandbox.activity.burst(3);
      const journal = sandbox.activity.journal.slice(-3);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 10_000, 'changes of a healthy mailbox');
      sandbox.store.byEmail('user0003@contoso.test')!.denied = false;
      await waitUntil(() => source.mailboxes.get('user0003@contoso.test')?.state === 'active', 20_000, 'the allowed mailbox to recover');
    } finally {
      await source.stop();
      await exchange.close();
      await sandbox.close();
    }
  });

  it('mailboxes added to or removed from the list are subscribed or unsubscribed without a restart', async () => {
    const sandbox = await startSandbox({ mailboxes: 8, itemsPerMailbox: 1, limits: { heartbeatMs: 500 } });
    const all = sandbox.store.all().map((m) => m.address);
    const directory = new MutableDirectory(all.slice(0, 4));
    const { source, exchange, seen } = createSource('pull', sandbox, new MemoryPositionStore(), directory, { intervalMs: 300 });
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 4, 10_000, '4 active');
      directory.addresses = [...all.slice(1, 4), ...all.slice(5, 8)];
      await waitUntil(() => source.mailboxes.countByState().active === 6 && source.mailboxes.size === 6, 10_000, 'the new list');
      assert.equal(source.mailboxes.get(all[0]), undefined, 'the removed mailbox is gone');
      await waitUntil(() => sandbox.subscriptions.counts().pull === 6, 5_000, 'the removed mailbox to be unsubscribed');
      sandbox.activity.mailboxFilter = (m) => m.address === all[7];
      sandbox.activity.burst(2);
      const journal = sandbox.activity.journal.slice(-2);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 10_000, 'changes of an added mailbox');
    } finally {
      await source.stop();
      await exchange.close();
      await sandbox.close();
    }
  });

  it('a group whose anchor mailbox has no streaming budget left (other applications hold its 10 connections) is opened as another member, and its changes still surface', async () => {
    const sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 1, limits: { heartbeatMs: 500 } });
    // another application impersonating user0001 holds the 10 connections its budget allows
    const other = new EwsClient({ settings: { url: sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 }, gate: new BackoffGate(), maxSockets: 4 });
    const anchor = sandbox.store.all()[0].address;
    const held = [];
    for (let i = 0; i < 10; i++) {
      const id = await other.subscribeStreaming(anchor, ['calendar'], { anchorMailbox: anchor });
      held.push(other.streamEvents({ anchorMailbox: anchor }, [id], 5).subscribe({ error: () => undefined }));
    }
    await waitUntil(() => sandbox.openConnections.size === 10, 5_000, 'the other application\'s 10 connections');
    const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), directory);
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 4 && sandbox.openConnections.size === 11, 20_000, 'our connection open beside them');
      assert.ok((sandbox.stats.errorsByCode.get('ErrorExceededConnectionCount') ?? 0) >= 1, 'the anchor\'s budget was full');
      sandbox.activity.burst(12);
      const journal = sandbox.activity.journal.slice(-12);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 15_000, 'every change, the anchor mailbox\'s too');
    } finally {
      for (const h of held) h.unsubscribe();
      await source.stop();
      await exchange.close();
      await other.close();
      await sandbox.close();
    }
  });

  it('affinity: groups anchored on their first mailbox work against several mailbox servers', async () => {
    const sandbox = await startSandbox({ mailboxes: 30, itemsPerMailbox: 1, limits: { heartbeatMs: 500, backends: 3 } });
    const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), directory, { maxSubscriptionsPerConnection: 10 });
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 30, 15_000, '30 active');
      await waitUntil(() => sandbox.openConnections.size === 3, 5_000, '3 connections');
      sandbox.activity.burst(40);
      const journal = sandbox.activity.journal.slice(-40);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 15_000, 'every change across servers');
      assert.equal(sandbox.stats.errorsByCode.get('ErrorSubscriptionNotFound') ?? 0, 0, 'no subscription was looked for on the wrong server');
    } finally {
      await source.stop();
      await exchange.close();
      await sandbox.close();
    }
  });
});
