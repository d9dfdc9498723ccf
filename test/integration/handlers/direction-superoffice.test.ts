import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, untilNoLag, writeConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { soClient, startCheckedSuperOffice } from '../../helpers/superoffice.js';
import { superOfficeCrmUser } from '../../helpers/superoffice-crm-user.js';

/**
 * A SuperOffice administrator says which way each user's mailbox is synced, on the user's own
 * person card (the field <crm directionField> names), without touching the file or restarting:
 * on the real parts (EwsStream on the sandbox, the SuperOffice simulator, Kafka, the state on
 * PostgreSQL). A to-crm user's mailbox is not written to; emptied, the field gives the user
 * back to the file's two-way and the CRM's appointment made meanwhile is caught up; a user
 * switched off is not subscribed, and switched on is synced both ways.
 */
describe('sync policy: each mailbox\'s direction from SuperOffice', () => {
  it('a field on the user\'s person card makes a mailbox to-crm or off, and emptied gives it back to the file', { timeout: 300_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 1, seed: 405 });
    const [ann, bob, cid] = sandbox.store.all();
    const so = await startCheckedSuperOffice({ associates: 3 });
    const admin = soClient(so, 'user0001');
    const crmUser = superOfficeCrmUser(so);
    let service: ServiceProcess | undefined;
    try {
      // as an administrator sets it: the field on the user's person card, through PersonEntity
      const setDirection = async (address: string, value: string): Promise<void> => {
        const login = address.split('@')[0];
        const personId = so.store.associateByLogin(login)!.personId;
        const { _Links: _, ...entity } = (await admin('GET', `/Person/${personId}`)).body as Record<string, unknown>;
        const r = await admin('PUT', `/Person/${personId}`, { ...entity, CustomFields: { 'SuperOffice:7': value } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      };
      await setDirection(ann.address, 'To CRM');
      await setDirection(cid.address, 'Off');
      const { file, dir } = writeConfig(`<exchange><events><advise Object="EwsStream"/></events>
        <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
        <mailboxes source="crm" refresh="5s"/></exchange>
        <crm type="superoffice" url="${so.apiUrl}" user="${so.apiUser.userName}" passwordEnv="ECS_TEST_SO_PASSWORD" webhookListen="127.0.0.1:0"
             stateSchema="${uniqueName('state')}" pollInterval="300ms" reconcileInterval="5s" directionField="personUdef/SuperOffice:7"/>
        <state type="postgres" url="${postgresUrl()}"/>
        <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName('sodirection')}." partitions="2"/>
        <sync items="appointments"/><ops listen="127.0.0.1:0"/>`);
      const env = { ECS_TEST_EWS_PASSWORD: 'sandbox', ECS_TEST_SO_PASSWORD: so.password, ECS_SUPEROFFICE_WEBHOOK_SECRET: 'direction-secret' };
      const recordsOf = async (address: string): Promise<string[]> => (await crmUser.list()).filter((r) => r.ownerEmail.toLowerCase() === address).map((r) => r.title).sort();
      const subjectsOf = (m: typeof ann): string[] => sandbox.store.itemsIn(m, 'calendar').map((i) => String(i.props.Subject)).sort();
      const later = (h: number): string => new Date(Date.now() + h * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');

      service = await startServiceProcess(file, env, dir);
      await waitUntil(async () => (await recordsOf(ann.address)).length === subjectsOf(ann).length && (await recordsOf(bob.address)).length === subjectsOf(bob).length, 90_000, 'the to-crm and two-way mailboxes\' items in SuperOffice');
      const status = (await (await fetch(`${service.opsUrl}/status`)).json()) as { mailboxes: { total: number } };
      assert.equal(status.mailboxes.total, 2, 'the user SuperOffice switched off is not subscribed');

      // users on both sides
      for (const m of [ann, bob, cid]) {
        sandbox.store.createItem(m, 'calendar', 'CalendarItem', { Subject: `Outlook ${m.address}`, Start: later(24), End: later(25), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
        await crmUser.createAppointment(m.address, `CRM ${m.address}`, later(48), later(49));
      }
      await waitUntil(async () => (await recordsOf(ann.address)).includes(`Outlook ${ann.address}`) && (await recordsOf(bob.address)).includes(`Outlook ${bob.address}`)
        && subjectsOf(bob).includes(`CRM ${bob.address}`), 90_000, 'the changes each direction carries');
      await untilNoLag(service);
      assert.ok(!subjectsOf(ann).includes(`CRM ${ann.address}`), 'to-crm by SuperOffice\'s word: the CRM appointment was not written to the mailbox');
      assert.ok(!subjectsOf(cid).includes(`CRM ${cid.address}`), 'off: nothing written to the mailbox');
      assert.ok(!(await recordsOf(cid.address)).includes(`Outlook ${cid.address}`), 'off: nothing written to SuperOffice');
      const view = (await (await fetch(`${service.opsUrl}/status/mailbox?address=${encodeURIComponent(ann.address)}`)).json()) as { direction?: string };
      assert.equal(view.direction, 'to-crm');

      // the administrator empties Ann's field (the file's two-way again) and switches Cid on: no restart
      await setDirection(ann.address, '');
      await setDirection(cid.address, 'two-way');
      await waitUntil(async () => subjectsOf(ann).includes(`CRM ${ann.address}`) && subjectsOf(cid).includes(`CRM ${cid.address}`)
        && (await recordsOf(cid.address)).includes(`Outlook ${cid.address}`), 90_000, 'Ann caught up, Cid synced both ways');
      await untilNoLag(service);
      assert.deepEqual(subjectsOf(ann).filter((t) => t.startsWith('CRM')), [`CRM ${ann.address}`], 'caught up once');
      assert.ok(service.lines.some((l) => l.event === 'catch-up.done' && l.mailbox === ann.address), 'Ann\'s skipped CRM changes were caught up');
      assert.ok(service.lines.some((l) => l.event === 'policy.direction-changed' && l.mailbox === cid.address && l.direction === 'two-way'), 'the switch is logged');
      assert.equal(((await (await fetch(`${service.opsUrl}/status`)).json()) as { mailboxes: { total: number } }).mailboxes.total, 3);
      assert.deepEqual(so.validator?.problems ?? [], [], 'the service spoke the Web API as its Swagger definitions say');
    } finally {
      if (service && service.child.exitCode === null && service.child.signalCode === null) await service.stop('SIGINT');
      await sandbox.close();
      await so.close();
    }
  });
});
