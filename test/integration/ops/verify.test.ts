// `exchange-crm-sync verify`: the running service compares each mailbox with the CRM item by
// item. Differences are made behind the sync's back (so it never repairs them): a CRM row
// deleted and another inserted in transactions marked as the sync's own (the change log does
// not send those), and items changed in the sandbox's store without any event.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { runCli } from '../../helpers/cli.js';
import { startRealPartsWorld } from '../../helpers/real-parts-world.js';
import type { ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

/** An item id in a pattern: its base64 holds '+' and '/'. */
const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('verify', () => {
  it('reports both sides agreeing, then each kind of difference made behind the sync\'s back, with exit codes', { timeout: 180_000 }, async () => {
    // the background verify runs too, every mailbox every second
    const world = await startRealPartsWorld({ name: 'verify', mailboxes: 3, itemsPerMailbox: 3, seed: 17, extra: '<sync verifySample="3" verifyInterval="1s"/>' });
    const { sandbox, db, crmSchema, stateSchema } = world;
    let service: ServiceProcess | undefined;
    try {
      service = await world.start();
      const url = service.opsUrl;
      const items = sandbox.store.all().reduce((n, m) => n + sandbox.store.itemsIn(m, 'calendar').length + sandbox.store.itemsIn(m, 'tasks').length, 0);
      await waitUntil(async () => Number((await db.query<{ n: string }>(`select count(*) as n from ${crmSchema}.appointment`)).rows[0].n) === items, 30_000, 'the first sync in the CRM');
      await waitUntil(async () => (await runCli(['verify', '--all', '--url', url])).code === 0, 30_000, 'verify to agree');
      const agreed = await runCli(['verify', '--all', '--url', url]);
      assert.match(agreed.stdout, new RegExp(`3 mailbox\\(es\\), ${items} items, ${items} CRM records: both sides agree`));
      type Sampled = { verify: { checked: number; divergences: Array<{ mailbox: string; kind: string; itemId?: string }> } };
      const sampled = async (): Promise<Sampled['verify']> => (JSON.parse((await runCli(['status', '--json', '--url', url])).stdout) as Sampled).verify;
      await waitUntil(async () => (await sampled()).checked >= 6, 30_000, 'the background verify to compare every mailbox twice');
      assert.deepEqual((await sampled()).divergences, [], 'the background verify finds nothing while the sides agree');

      // behind the sync's back
      const [one, two] = sandbox.store.all();
      const asSync = async (sql: string, params: unknown[]): Promise<void> => {
        await db.transaction(async (tx) => {
          await tx.query(`select set_config('ecs.origin', 'sync', true)`);
          await tx.query(sql, params);
        });
      };
      const mapped = async (itemId: string): Promise<string> => (await db.query<{ crm_id: string }>(`select crm_id from ${stateSchema}.item_map where item_id = $1`, [itemId])).rows[0].crm_id;
      const [a, b, c] = sandbox.store.itemsIn(one, 'calendar');
      // ghost: the CRM record of an item is gone; ghost: an item is gone, its record stays
      await asSync(`delete from ${crmSchema}.appointment where appointment_id = $1`, [Number((await mapped(itemIdOf(one.index, a.seq))).split(':')[1])]);
      one.items.delete(b.seq);
      one.itemsByFolder.get('calendar')!.delete(b.seq);
      // stale: an item changed without a notification
      c.version += 1_000;
      // missing: an item made without a notification; unlinked: a CRM row the sync never sent
      sandbox.store.createItem(two, 'calendar', 'CalendarItem', { Subject: 'unseen', Start: new Date().toISOString(), End: new Date(Date.now() + 3_600_000).toISOString() }, new Map(), true);
      await asSync(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at) select associate_id, 1, 'never sent', now(), now() from ${crmSchema}.associate where email = $1`, [two.address]);

      const found = await runCli(['verify', '--all', '--url', url]);
      assert.equal(found.code, 3, found.stdout + found.stderr);
      assert.match(found.stdout, /1 missing, 1 stale, 2 ghost, 1 unlinked/);
      assert.match(found.stdout, new RegExp(`${one.address} calendar: ghost item ${escaped(itemIdOf(one.index, a.seq))} / appointment:\\d+: appointment:\\d+ is gone from the CRM`));
      assert.match(found.stdout, new RegExp(`${one.address} calendar: ghost item ${escaped(itemIdOf(one.index, b.seq))} / appointment:\\d+: the item is gone from the mailbox`));
      assert.match(found.stdout, new RegExp(`${one.address} calendar: stale item ${escaped(itemIdOf(one.index, c.seq))}`));
      assert.match(found.stdout, new RegExp(`${two.address} calendar: missing item `));
      assert.match(found.stdout, new RegExp(`${two.address} calendar: unlinked appointment:\\d+`));
      const single = await runCli(['verify', two.address, '--url', url, '--json']);
      assert.equal(single.code, 3);
      const report = JSON.parse(single.stdout) as { mailboxes: number; counts: Record<string, number> };
      assert.deepEqual([report.mailboxes, report.counts], [1, { missing: 1, stale: 0, ghost: 0, unlinked: 1 }]);
      // the service finds the same on its own: each difference seen twice, nothing in flight
      await waitUntil(async () => (await sampled()).divergences.length === 5, 30_000, 'the background verify to find the 5 differences');
      assert.deepEqual((await sampled()).divergences.map((d) => `${d.mailbox} ${d.kind}`).sort(), [
        `${one.address} ghost`, `${one.address} ghost`, `${one.address} stale`, `${two.address} missing`, `${two.address} unlinked`]);
      const status = await runCli(['status', '--url', url]);
      assert.equal(status.code, 3, 'status says something needs attention');
      assert.match(status.stdout, /background verify \(3 mailboxes every 1 s, \d+ compared\): APART — 1 missing, 1 stale, 2 ghost, 1 unlinked/);
      assert.match(await (await fetch(`${url}/metrics`)).text(), /ecs_verify_divergences\{kind="ghost"\} 2/);
      assert.ok(service.lines.some((l) => l.event === 'verify.diverged' && l.mailbox === two.address && l.kind === 'missing'), 'the log names it');

      const unknown = await runCli(['verify', 'nobody@contoso.test', '--url', url]);
      assert.equal(unknown.code, 3);
      assert.match(unknown.stderr, /nobody@contoso.test is not a mailbox this instance syncs/);
      assert.equal((await runCli(['verify', '--url', url])).code, 2, 'neither a mailbox nor --all');
    } finally {
      await world.close(service);
    }
  });
});
