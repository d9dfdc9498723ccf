// #17.5: a burst of deletes trips the breaker for its scope; further deletes there are held
// back (named by /ready and `status`), other scopes go on, and an operator releases or
// discards them with `exchange-crm-sync deletes`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { runCli } from '../../helpers/cli.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { startRealPartsWorld } from '../../helpers/real-parts-world.js';
import type { ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the delete breaker', () => {
  it('holds back a burst of deletes per scope until released or discarded', { timeout: 240_000 }, async () => {
    const world = await startRealPartsWorld({ name: 'breaker', mailboxes: 2, itemsPerMailbox: 0, seed: 9, extra: '<sync deleteBreaker="30" deleteBreakerMinimum="5" deleteBreakerWindow="10m"/>' });
    const { sandbox, db, crmSchema } = world;
    let service: ServiceProcess | undefined;
    try {
      service = await world.start();
      const url = service.opsUrl;
      const [one, two] = sandbox.store.all();
      const rows = async (email: string): Promise<number> => Number((await db.query<{ n: string }>(
        `select count(*) as n from ${crmSchema}.appointment a join ${crmSchema}.associate s using (associate_id) where s.email = $1`, [email])).rows[0].n);
      const create = async (mailbox: string, n: number): Promise<void> => {
        const service = ewsService(sandbox.url, mailbox);
        for (let i = 0; i < n; i++) {
          const item = new ews.Appointment(service);
          item.Subject = `item ${i}`;
          item.Start = new ews.DateTime(Date.parse('2026-12-10T09:00:00Z') + i * 3_600_000);
          item.End = new ews.DateTime(Date.parse('2026-12-10T10:00:00Z') + i * 3_600_000);
          await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
        }
      };
      await waitUntil(async () => (await runCli(['status', '--url', url])).code === 0, 30_000, 'the service ready');
      await create(one.address, 20);
      await create(two.address, 1);
      await waitUntil(async () => (await rows(one.address)) === 20 && (await rows(two.address)) === 1, 30_000, 'the items in the CRM');
      await settle(1_000);

      // a burst in the first mailbox: 12 of its 20 items deleted at once
      const ids = sandbox.store.itemsIn(one, 'calendar').map((i) => new ews.ItemId(itemIdOf(one.index, i.seq)));
      await ewsService(sandbox.url, one.address).DeleteItems(ids.slice(0, 12), ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      await waitUntil(async () => (await runCli(['deletes', 'list', '--url', url])).stdout.includes(`exchange:${one.address}: 6 delete(s) held back`), 30_000, 'six deletes held back');
      assert.equal(await rows(one.address), 14, '6 deletes went through before the breaker tripped (30 % of 21), 6 are held back');
      const status = await runCli(['status', '--url', url]);
      assert.equal(status.code, 3, 'status says something needs attention');
      assert.match(status.stdout + status.stderr, /deletes held back for exchange:user0001@contoso.test/);
      // another scope goes on
      await ewsService(sandbox.url, two.address).DeleteItems([new ews.ItemId(itemIdOf(two.index, sandbox.store.itemsIn(two, 'calendar')[0].seq))], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      await waitUntil(async () => (await rows(two.address)) === 0, 20_000, 'the other mailbox\'s delete applied');

      const released = await runCli(['deletes', 'release', `exchange:${one.address}`, '--url', url]);
      assert.equal(released.code, 0, released.stderr);
      assert.match(released.stdout, /6 delete\(s\) applied/);
      assert.equal(await rows(one.address), 8);
      assert.equal((await runCli(['deletes', 'list', '--url', url])).code, 0);

      // a burst in the CRM: 7 of the 8 rows deleted by a user; the CRM scope holds back what passes 30 %
      await db.query(`delete from ${crmSchema}.appointment where appointment_id in (select appointment_id from ${crmSchema}.appointment order by appointment_id limit 7)`);
      await waitUntil(async () => /crm: \d+ delete\(s\) held back/.test((await runCli(['deletes', 'list', '--url', url])).stdout), 30_000, 'CRM deletes held back');
      const held = Number(/crm: (\d+) delete/.exec((await runCli(['deletes', 'list', '--url', url])).stdout)![1]);
      await settle(1_000);
      assert.equal(sandbox.store.itemsIn(one, 'calendar').length, 8 - (7 - held), 'the deletes before the trip reached the mailbox');
      const discarded = await runCli(['deletes', 'discard', 'crm', '--url', url]);
      assert.match(discarded.stdout, new RegExp(`crm: ${held} delete\\(s\\) discarded`));
      await settle(1_000);
      assert.equal(sandbox.store.itemsIn(one, 'calendar').length, 8 - (7 - held), 'discarded: the mailbox keeps those items');
      assert.equal((await runCli(['deletes', 'list', '--url', url])).code, 0);
      assert.equal((await runCli(['deletes', 'release', 'crm', '--url', url])).code, 3, 'nothing held back any more');
    } finally {
      await world.close(service);
    }
  });
});
