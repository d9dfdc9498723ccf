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

describe('verify', () => {
  it('reports both sides agreeing, then each kind of difference made behind the sync\'s back, with exit codes', { timeout: 180_000 }, async () => {
    const world = await startRealPartsWorld({ name: 'verify', mailboxes: 3, itemsPerMailbox: 3, seed: 17 });
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
      assert.match(found.stdout, new RegExp(`${one.address} calendar: ghost item ${itemIdOf(one.index, a.seq)} / appointment:\\d+: appointment:\\d+ is gone from the CRM`));
      assert.match(found.stdout, new RegExp(`${one.address} calendar: ghost item ${itemIdOf(one.index, b.seq)} / appointment:\\d+: the item is gone from the mailbox`));
      assert.match(found.stdout, new RegExp(`${one.address} calendar: stale item ${itemIdOf(one.index, c.seq)}`));
      assert.match(found.stdout, new RegExp(`${two.address} calendar: missing item `));
      assert.match(found.stdout, new RegExp(`${two.address} calendar: unlinked appointment:\\d+`));
      const single = await runCli(['verify', two.address, '--url', url, '--json']);
      assert.equal(single.code, 3);
      const report = JSON.parse(single.stdout) as { mailboxes: number; counts: Record<string, number> };
      assert.deepEqual([report.mailboxes, report.counts], [1, { missing: 1, stale: 0, ghost: 0, unlinked: 1 }]);
      const unknown = await runCli(['verify', 'nobody@contoso.test', '--url', url]);
      assert.equal(unknown.code, 3);
      assert.match(unknown.stderr, /nobody@contoso.test is not a mailbox this instance syncs/);
      assert.equal((await runCli(['verify', '--url', url])).code, 2, 'neither a mailbox nor --all');
    } finally {
      await world.close(service);
    }
  });
});
