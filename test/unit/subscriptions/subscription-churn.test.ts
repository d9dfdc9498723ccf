import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { SubscriptionChurn, type OutageChange } from '../../../src/subscriptions/subscription-churn.js';

function churn(stableMs = 60_000): { churn: SubscriptionChurn; clock: { now: number }; outages: OutageChange[]; reattached: Array<[string, number]> } {
  const clock = { now: 1_000_000 };
  const outages: OutageChange[] = [];
  const reattached: Array<[string, number]> = [];
  const c = new SubscriptionChurn({
    stableMs, outageMailboxes: 3, now: () => clock.now,
    policy: backoffPolicy({ initialMs: 1_000, jitter: 'none' }),
    probePolicy: backoffPolicy({ initialMs: 15_000, maxMs: 300_000, jitter: 'none' }),
    reattach: (m, d) => void reattached.push([m, d]),
    onOutage: (o) => void outages.push(o),
  });
  return { churn: c, clock, outages, reattached };
}

const mailboxes = Array.from({ length: 100 }, (_, i) => `user${i}@contoso.test`);

describe('SubscriptionChurn', () => {
  it('a server restart seconds after start is a first loss for every mailbox: all subscribe again at once', () => {
    const { churn: c, clock, outages } = churn();
    try {
      for (const m of mailboxes) c.subscribed(m);
      clock.now += 3_000;
      const delays = mailboxes.map((m) => c.lost(m, mailboxes.length));
      assert.deepEqual(new Set(delays), new Set([0]));
      assert.equal(c.state(), undefined);
      assert.deepEqual(outages, []);
      assert.equal(mailboxes.some((m) => c.isRepeat(m)), false, 'first losses are logged as such');
    } finally {
      c.stop();
    }
  });

  it('replacements lost again within a minute: back-off grows per mailbox, and three such mailboxes make an outage with one probe', () => {
    const { churn: c, clock, outages, reattached } = churn();
    try {
      for (const m of mailboxes) c.subscribed(m);
      clock.now += 120_000;
      assert.equal(c.lost(mailboxes[0]!, 100), 0, 'first loss');
      c.subscribed(mailboxes[0]!);
      clock.now += 5_000;
      assert.equal(c.lost(mailboxes[0]!, 100), 1_000, 'the replacement lost within a minute: waits');
      assert.equal(c.isRepeat(mailboxes[0]!), true);
      c.subscribed(mailboxes[0]!);
      clock.now += 5_000;
      assert.equal(c.lost(mailboxes[0]!, 100), 2_000, 'and longer the next time');
      assert.equal(c.state(), undefined, 'one mailbox is its own trouble');

      for (const m of [mailboxes[1]!, mailboxes[2]!]) {
        assert.equal(c.lost(m, 100), 0);
        c.subscribed(m);
      }
      clock.now += 1_000;
      assert.equal(c.lost(mailboxes[1]!, 100), 1_000);
      assert.equal(c.lost(mailboxes[2]!, 100), 15_000, 'the third repeating mailbox opens the outage and becomes the probe');
      assert.deepEqual(outages, [{ open: true, probe: mailboxes[2]!, mailboxes: 3 }]);
      assert.equal(c.lost(mailboxes[3]!, 100), undefined, 'everyone else waits');
      assert.equal(c.lost(mailboxes[0]!, 100), undefined);
      assert.equal(c.state()?.waiting, 2);

      c.subscribed(mailboxes[2]!);
      clock.now += 1_000;
      assert.equal(c.lost(mailboxes[2]!, 100), 30_000, 'the probe backs off');
      assert.deepEqual(reattached, []);
    } finally {
      c.stop();
    }
  });

  it('the outage ends when the probe holds for stableMs, and the waiting mailboxes are subscribed again', async () => {
    const { churn: c, clock, outages, reattached } = churn(200);
    try {
      for (const m of mailboxes.slice(0, 5)) c.subscribed(m);
      for (const m of mailboxes.slice(0, 5)) c.lost(m, 5);
      for (const m of mailboxes.slice(0, 5)) c.subscribed(m);
      clock.now += 100;
      for (const m of mailboxes.slice(0, 5)) c.lost(m, 5);
      const probe = c.state()?.probe;
      assert.equal(probe, mailboxes[2]);
      assert.equal(c.state()?.waiting, 2, 'the two lost after the outage opened wait');
      c.subscribed(probe!);
      assert.notEqual(c.state(), undefined);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(c.state(), undefined);
      assert.equal(outages.at(-1)?.open, false);
      assert.deepEqual(reattached.sort(), [[mailboxes[3], 0], [mailboxes[4], 0]]);
    } finally {
      c.stop();
    }
  });
});
