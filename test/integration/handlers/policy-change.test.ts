import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { initReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { PgDatabase } from '../../../src/state/index.js';
import { runCli } from '../../helpers/cli.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, untilNoLag, writeConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

/**
 * A change of the item rules (private, categories) read again by `reload` applies to the items
 * synced already, at once, as ordinary changes: on the real parts (EwsStream on the sandbox,
 * the reference CRM on PostgreSQL, Kafka), an item in a category newly excluded leaves the
 * CRM, a private item becomes a blocker, and both come back when the rules do.
 */
/** The service on the real parts with `<sync>` as given, one mailbox watched; `reload` rewrites `<sync>` and has it read again. */
async function startPolicyService(seed: number, syncElement: string) {
  const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 1, seed });
  const mailbox = sandbox.store.all()[0].address;
  const db = new PgDatabase(postgresUrl());
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  let service: ServiceProcess | undefined;
  const close = async (): Promise<void> => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) await service.stop('SIGINT');
    await sandbox.close();
    await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
    await db.close();
  };
  try {
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
    const { file, dir } = writeConfig(`<exchange><events><advise Object="EwsStream"/></events>
      <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
      <mailboxes>${sandbox.store.all().map((m) => `<mailbox>${m.address}</mailbox>`).join('')}</mailboxes></exchange>
      <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="300ms"/>
      <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName('policy')}." partitions="2"/>
      ${syncElement}<ops listen="127.0.0.1:0"/>`);
    const env = { ECS_TEST_EWS_PASSWORD: 'sandbox' };
    const configText = readFileSync(file, 'utf8');
    service = await startServiceProcess(file, env, dir);
    const running = service;
    const reload = async (next: string): Promise<void> => {
      writeFileSync(file, configText.replace(syncElement, next));
      const r = await runCli(['reload', '--url', running.opsUrl], env, dir);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    };
    const titles = async (): Promise<string[]> => (await db.query<{ title: string }>(
      `select a.title from ${crmSchema}.appointment a join ${crmSchema}.associate s using (associate_id) where lower(s.email) = $1 order by a.title`, [mailbox])).rows.map((r) => r.title);
    return { sandbox, mailbox, db, crmSchema, service: running, reload, titles, close };
  } catch (err) {
    await close();
    throw err;
  }
}

describe('sync policy: a changed rule applies to items synced already', () => {
  it('exclude="Personal" and private="busy" read by reload: the Personal item leaves the CRM, the private one becomes a blocker; undone, both return; a type pair added types a synced record', { timeout: 240_000 }, async () => {
    const { sandbox, mailbox, db, crmSchema, service, reload, titles, close } = await startPolicyService(515, '<sync items="appointments"/>');
    try {
      const inOutlook = async (subject: string, o: { categories?: string[]; private?: boolean }): Promise<void> => {
        const a = new ews.Appointment(ewsService(sandbox.url, mailbox));
        a.Subject = subject;
        if (o.categories) a.Categories = new ews.StringList(o.categories);
        if (o.private) a.Sensitivity = ews.Sensitivity.Private;
        a.Start = new ews.DateTime(Date.now() + 86_400_000);
        a.End = new ews.DateTime(Date.now() + 90_000_000);
        await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
      };
      await inOutlook('Gym', { categories: ['Personal'] });
      await inOutlook('Doctor', { private: true });
      await inOutlook('Pipeline review', {});
      await inOutlook('At Fabrikam', { categories: ['Customer visit'] });
      await waitUntil(async () => {
        const now = await titles();
        return ['Doctor', 'Gym', 'Pipeline review', 'At Fabrikam'].every((t) => now.includes(t));
      }, 60_000, 'the four items in the CRM');
      const seeded = (await titles()).length;

      await reload('<sync items="appointments" private="busy"><categories exclude="Personal"/></sync>');
      await waitUntil(async () => {
        const now = await titles();
        return !now.includes('Gym') && !now.includes('Doctor') && now.includes('Private') && now.includes('Pipeline review');
      }, 60_000, 'the Personal item gone from the CRM, the private one a blocker, without a change of either in Outlook');
      assert.equal((await titles()).length, seeded - 1, 'nothing else changed');
      const line = service.lines.find((l) => l.event === 'policy.items-changed');
      assert.equal(line?.mailboxes, 2, JSON.stringify(line));

      // the rules undone: both come back as they are in Outlook
      await reload('<sync items="appointments"/>');
      await waitUntil(async () => {
        const now = await titles();
        return now.includes('Gym') && now.includes('Doctor') && !now.includes('Private');
      }, 60_000, 'both items back');
      assert.equal((await titles()).length, seeded);

      // a category ↔ type pair added: the record of the item already in that category gets the type at once
      const typeOf = async (title: string): Promise<string | null> => (await db.query<{ activity_type: string | null }>(`select activity_type from ${crmSchema}.appointment where title = $1`, [title])).rows[0]?.activity_type ?? null;
      assert.equal(await typeOf('At Fabrikam'), null);
      await reload('<sync items="appointments"><category outlook="Customer visit" crm="Visit"/></sync>');
      await waitUntil(async () => (await typeOf('At Fabrikam')) === 'Visit', 60_000, 'the synced item\'s record typed by the new pair, without a change in Outlook');
      assert.equal(await typeOf('Pipeline review'), null, 'an item without the category keeps the default');
    } finally {
      await close();
    }
  });

  it('a field let through towards Exchange by reload: the CRM\'s values the items were written without reach them at once; items written under the same rules are not written again', { timeout: 240_000 }, async () => {
    const { sandbox, mailbox, db, crmSchema, service, reload, close } = await startPolicyService(516, '<sync items="appointments"><field name="location" direction="to-crm"/></sync>');
    try {
      const m = sandbox.store.all()[0];
      const itemOf = (subject: string) => sandbox.store.itemsIn(m, 'calendar').find((x) => x.props.Subject === subject);
      const locationOf = (subject: string): string => String(itemOf(subject)?.props.Location ?? '');
      const inCrm = (title: string, location: string): Promise<unknown> => db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, location, start_at, end_at, time_zone)
        select associate_id, 1, $2, $3, now() + interval '2 days', now() + interval '2 days 1 hour', 'UTC' from ${crmSchema}.associate where lower(email) = $1`, [mailbox, title, location]);
      await inCrm('Board meeting', 'Room 1');
      await inCrm('Lunch', 'Canteen');
      await waitUntil(() => !!itemOf('Board meeting') && !!itemOf('Lunch'), 60_000, 'the CRM\'s appointments in the mailbox');
      assert.deepEqual([locationOf('Board meeting'), locationOf('Lunch')], ['', ''], 'location travels to the CRM only: the items start without it');
      // a CRM edit of the location is not written either; the item made in Outlook keeps its own
      await db.query(`update ${crmSchema}.appointment set location = 'Room 2', title = 'Board meeting' where title = 'Board meeting'`);
      const outlookMade = sandbox.store.itemsIn(m, 'calendar').find((x) => !['Board meeting', 'Lunch'].includes(String(x.props.Subject)))!;
      await untilNoLag(service);
      assert.equal(locationOf('Board meeting'), '');
      const versions = { outlook: outlookMade.version, board: itemOf('Board meeting')!.version };

      await reload('<sync items="appointments"/>');
      await waitUntil(() => locationOf('Board meeting') === 'Room 2' && locationOf('Lunch') === 'Canteen', 60_000, 'the CRM\'s locations in the items, without a change in the CRM');
      await untilNoLag(service);
      const done = service.lines.find((l) => l.event === 'catch-up.done' && l.scope === 'all' && l.mailbox === mailbox);
      assert.ok(done, 'every record of the mailbox was sent again');
      assert.equal(outlookMade.version, versions.outlook, 'the item made in Outlook was written from the mailbox, under no rule that changed: not written again');
      const boardAfter = itemOf('Board meeting')!.version;
      // a second reload with the same rules sends nothing again
      await reload('<sync items="appointments"/>');
      await untilNoLag(service);
      assert.equal(itemOf('Board meeting')!.version, boardAfter, 'the same rules again: nothing written');
      assert.ok(boardAfter > versions.board);
    } finally {
      await close();
    }
  });
});
