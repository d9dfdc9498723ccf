// Scale-out on the real broker: three instances with the same configuration share 150
// mailboxes through the consumer group of <prefix>mailboxes; one is SIGKILLed during
// activity, the others take its mailboxes (and, if it read the CRM change log, that too),
// and at the end the CRM and the mailboxes agree item by item.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { checkAgreement, fetchInventory, referenceRecords } from '../../../bench/lib/agreement.js';
import { initReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { PgDatabase } from '../../../src/state/index.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, writeRealPartsConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

interface Status {
  service: { partitions: number[] };
  mailboxes: { total: number; byState: Record<string, number> };
}

describe('scale-out across instances', () => {
  const instances: ServiceProcess[] = [];
  after(async () => {
    for (const s of instances) await s.stop('SIGKILL');
  });

  it('3 instances share 150 mailboxes; one is killed during activity; every change is still applied', { timeout: 420_000 }, async () => {
    const t0 = Date.now();
    const phase = (what: string): void => console.log(`# scale-out: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const sandbox = await startSandbox({ mailboxes: 150, itemsPerMailbox: 1, seed: 303, limits: { heartbeatMs: 500 } });
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    try {
      await initReferenceCrm(db, crmSchema);
      await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
      const { file } = writeRealPartsConfig({
        ewsUrl: sandbox.url, serviceAccount: sandbox.serviceAccount, postgresUrl: postgresUrl(), crmSchema, stateSchema, brokers: kafkaBrokers(),
        topicPrefix: `${uniqueName('scale')}.`, partitions: 12, crmPollInterval: '500ms',
      });
      // started together, as an operator scaling out would: the group settles once, not three times
      instances.push(...(await Promise.all([0, 1, 2].map(() => startServiceProcess(file, { ECS_TEST_EWS_PASSWORD: 'sandbox' })))));
      const statuses = async (alive: ServiceProcess[]): Promise<Status[]> => Promise.all(alive.map(async (s) => (await (await fetch(`${s.opsUrl}/status`)).json()) as Status));
      const shared = async (alive: ServiceProcess[]): Promise<boolean> => {
        const all = await statuses(alive);
        const partitions = all.flatMap((s) => s.service.partitions).sort((a, b) => a - b);
        const active = all.reduce((n, s) => n + s.mailboxes.byState.active, 0);
        const total = all.reduce((n, s) => n + s.mailboxes.total, 0);
        return JSON.stringify(partitions) === JSON.stringify([...Array(12).keys()]) && active === 150 && total === 150;
      };
      await waitUntil(() => shared(instances), 120_000, 'the 12 partitions and 150 mailboxes shared by 3 instances, each mailbox once');
      phase('3 instances share the mailboxes');
      const shares = (await statuses(instances)).map((s) => s.mailboxes.total);
      assert.ok(shares.every((n) => n > 0), `every instance has mailboxes: ${shares.join(', ')}`);

      sandbox.activity.setRate(25);
      await new Promise((r) => setTimeout(r, 4_000));
      // kill the instance that reads the CRM change log: both of its duties must move
      const leader = (await statuses(instances)).findIndex((s) => s.service.partitions.includes(0));
      const victim = instances.splice(leader, 1)[0];
      await victim.stop('SIGKILL');
      phase(`instance ${leader + 1} killed`);
      await new Promise((r) => setTimeout(r, 4_000));
      const { rows: owners } = await db.query<{ associate_id: number }>(`select associate_id from ${crmSchema}.associate order by associate_id limit 5`);
      for (const o of owners) {
        await db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, 'After the kill', now() + interval '2 days', now() + interval '2 days 1 hour', 'Europe/Berlin')`, [o.associate_id]);
      }
      await new Promise((r) => setTimeout(r, 4_000));
      sandbox.activity.setRate(0);

      await waitUntil(() => shared(instances), 120_000, 'the survivors to hold every partition and all 150 mailboxes');
      phase('the survivors hold every mailbox');
      let last = '';
      await waitUntil(async () => {
        const a = await checkAgreement(db, stateSchema, await referenceRecords(db, crmSchema), await fetchInventory(sandbox.url.replace('/EWS/Exchange.asmx', '')));
        last = JSON.stringify(a);
        return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0;
      }, 120_000, 'the CRM and the mailboxes to agree').catch((err: Error) => {
        throw new Error(`${err.message}: ${last}`);
      });
      phase('the CRM agrees with the mailboxes');
      assert.ok(sandbox.activity.counts.total >= 150, `activity happened (${sandbox.activity.counts.total} changes)`);
      const crmMade = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment where title = 'After the kill'`)).rows[0].n;
      assert.equal(crmMade, 5, 'the CRM rows made after the kill were not doubled');
    } finally {
      for (const s of instances.splice(0)) await s.stop('SIGTERM');
      await sandbox.close();
      await db.close();
    }
  });
});
