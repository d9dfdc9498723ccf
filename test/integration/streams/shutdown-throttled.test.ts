// #17.1: a SIGTERM while Exchange throttles every GetItem. The stop waits for what is in
// flight, then ends the retries: the changes stay unacknowledged (their SyncStates unsaved)
// — not parked in the dead-letter topic as unreadable — and arrive after the restart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ews, ewsService } from '../../helpers/ews.js';
import { startRealPartsWorld } from '../../helpers/real-parts-world.js';
import { kafkaBrokers } from '../../helpers/services.js';
import type { ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

describe('SIGTERM during a throttling storm', () => {
  it('parks nothing, loses nothing: the throttled changes arrive after the restart', { timeout: 180_000 }, async () => {
    const world = await startRealPartsWorld({ name: 'storm', mailboxes: 4, itemsPerMailbox: 1, seed: 5 });
    const { sandbox, db, crmSchema, prefix } = world;
    const admin = new Kafka({ clientId: 'storm-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    let service: ServiceProcess | undefined;
    try {
      const start = (): Promise<ServiceProcess> => world.start();
      service = await start();
      const titles = async (): Promise<string[]> => (await db.query<{ title: string }>(`select title from ${crmSchema}.appointment where title like 'storm %' order by title`)).rows.map((r) => r.title);
      await waitUntil(async () => Number((await db.query<{ n: string }>(`select count(*) as n from ${crmSchema}.appointment`)).rows[0].n) === 4, 30_000, 'the first sync');

      // every GetItem is refused as busy from now on; notifications and SyncFolderItems still work
      sandbox.throttle(1, 1_000, ['GetItem']);
      const throttledBefore = sandbox.stats.throttled;
      const made: string[] = [];
      for (const [i, m] of sandbox.store.all().entries()) {
        const item = new ews.Appointment(ewsService(sandbox.url, m.address));
        item.Subject = `storm ${i}`;
        item.Start = new ews.DateTime(Date.parse('2026-12-10T09:00:00Z'));
        item.End = new ews.DateTime(Date.parse('2026-12-10T10:00:00Z'));
        await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
        made.push(item.Subject);
      }
      await waitUntil(() => sandbox.stats.throttled - throttledBefore >= 8, 30_000, 'GetItem retried under throttling');
      assert.equal(await service.stop('SIGTERM'), 0, service.stderr());
      service = undefined;

      await admin.connect();
      const parked = (await admin.fetchTopicOffsets(`${prefix}exchange.changes.dlq`)).reduce((n, p) => n + Number(p.high), 0);
      assert.equal(parked, 0, 'nothing parked: a change the server was too busy to give is not unreadable');
      assert.deepEqual(await titles(), [], 'nothing arrived while GetItem was refused');

      sandbox.throttle(0);
      service = await start();
      await waitUntil(async () => (await titles()).length === made.length, 30_000, 'the throttled changes after the restart');
      assert.deepEqual(await titles(), made.sort());
    } finally {
      await admin.disconnect().catch(() => undefined);
      await world.close(service);
    }
  });
});
