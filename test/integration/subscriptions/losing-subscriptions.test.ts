import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { capturedLogger } from '../../helpers/captured-logger.js';
import { createSource, MutableDirectory, unsurfaced, waitUntil } from '../../helpers/source-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The real rule is minutes (a subscription is healthy again after 60 s, probes grow from 15 s to
// 5 min); here the same rule runs on seconds: stable after 3 s, probes from 1 s to 4 s.
for (const mode of ['stream', 'pull'] as const) {
  describe(`${mode === 'stream' ? 'EwsStream' : 'EwsPull'}: Exchange loses every subscription as soon as it is used`, () => {
    it('the mailboxes wait while one probe is subscribed at growing intervals; requests and log lines stay few; all recover and nothing is lost', async (t) => {
      const sandbox = await startSandbox({ mailboxes: 5, itemsPerMailbox: 2, limits: { heartbeatMs: 500 } });
      const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
      const { logger, loud } = capturedLogger();
      const { source, exchange, seen } = createSource(mode, sandbox, new MemoryPositionStore(), directory, {
        logger, intervalMs: 300, subscriptionStableMs: 3_000, outageProbePolicy: backoffPolicy({ initialMs: 1_000, maxMs: 4_000, jitter: 'none' }),
      });
      try {
        source.start();
        await waitUntil(() => source.mailboxes.countByState().active === 5, 20_000, '5 active');
        const linesBefore = loud().length;
        sandbox.hostile('lose-subscriptions');
        await waitUntil(() => source.outage() !== undefined, 30_000, 'the source to see that Exchange loses every subscription');
        // users go on working while Exchange misbehaves
        sandbox.activity.burst(10);
        const journal = sandbox.activity.journal.slice(-10);
        const before = sandbox.stats.totalRequests();
        await sleep(12_000);
        const during = sandbox.stats.totalRequests() - before;
        const outage = source.outage();
        assert.ok(outage, 'still losing subscriptions');
        assert.equal(outage.waiting, 4, 'every mailbox but the probe waits');
        assert.ok(outage.probes >= 2, `the probe was tried again (${outage.probes} tries)`);
        // 12 s at probes 1, 2, 4, 4 s apart: about 4 probes of a few requests each. Before the
        // change, each mailbox was subscribed again at once after every loss: hundreds.
        t.diagnostic(`${during} requests in 12 s with 5 mailboxes while every subscription is lost (${outage.probes} probes)`);
        assert.ok(during <= 40, `${during} requests in 12 s while Exchange loses every subscription`);
        const noisy = loud().slice(linesBefore);
        assert.ok(noisy.length <= 6, `${noisy.length} log lines at info or above:\n${noisy.map((l) => l.msg).join('\n')}`);
        assert.ok(noisy.some((l) => l.event === 'exchange.losing-subscriptions'), 'the outage is named once');
        assert.match(source.mailboxes.get(sandbox.store.all().find((m) => m.address !== outage.probe)!.address)!.reason ?? '', /Exchange keeps losing subscriptions/);

        sandbox.hostile(null);
        await waitUntil(() => source.outage() === undefined && source.mailboxes.countByState().active === 5, 30_000, 'the probe to hold and every mailbox to be active again');
        await waitUntil(() => unsurfaced(journal, seen).length === 0, 20_000, 'the changes made during the outage');
        assert.ok(loud().some((l) => l.event === 'exchange.keeping-subscriptions'), 'the recovery is named');
      } finally {
        await source.stop();
        await exchange.close();
        await sandbox.close();
      }
    });
  });
}
