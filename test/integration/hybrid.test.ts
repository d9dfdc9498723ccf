import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initReferenceCrm, seedDemoAssociates } from '../../src/crm-adapter/index.js';
import { changeKeyOf, itemIdOf } from '../../src/sandbox/ids.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { PgDatabase } from '../../src/state/index.js';
import { runCli, verifyUntilAgreed } from '../helpers/cli.js';
import { ews, ewsService } from '../helpers/ews.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../helpers/services.js';
import { startServiceProcess, writeConfig, type ServiceProcess } from '../helpers/service-process.js';
import { waitUntil } from '../helpers/source-harness.js';

const APP = { tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: 'hybrid-secret' };

/**
 * A hybrid organisation (EWS on premises, Graph in Exchange Online) on the real parts: each
 * mailbox synced where it lives (the sandbox serves a mailbox through one protocol only, so a
 * request through the wrong side fails), then mailboxes moved by Exchange and followed by
 * `migrate --to graph` — after a SIGKILL of the sync, with users changing the mailboxes
 * meanwhile — and one followed at start because Autodiscover says it is online (and one placed
 * online at the first start by the CRM's word). At the end
 * verify agrees, the CRM has one row per item, and the move created or deleted no item.
 */
describe('a hybrid organisation: EWS and Graph in one deployment, mailboxes moving to Exchange Online', () => {
  it('syncs each mailbox where it lives; migrate carries moved mailboxes to Graph without a duplicate', { timeout: 420_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 8, itemsPerMailbox: 3, seed: 808, oauth: { apps: [APP] }, graph: true });
    const all = sandbox.store.all().map((m) => m.address);
    sandbox.moveMailboxes(all.slice(0, 6), 'on-premises');
    sandbox.moveMailboxes(all.slice(6), 'online');
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    let service: ServiceProcess | undefined;
    try {
      await initReferenceCrm(db, crmSchema);
      await seedDemoAssociates(db, crmSchema, all);
      const { file, dir } = writeConfig(`<exchange><events><advise Object="EwsStream" online="GraphNotify"/></events>
        <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD" autodiscover="false"/>
        <graph url="${sandbox.graph!.url}" authority="${sandbox.tokens!.url}" tenant="${APP.tenant}" clientId="${APP.clientId}" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="sandbox-ca.pem"/>
        <mailboxes file="mailboxes.csv" refresh="5s"/></exchange>
        <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="300ms"/>
        <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName('hybrid')}." partitions="2"/>
        <sync items="appointments,tasks"/><ops listen="127.0.0.1:0"/>`);
      writeFileSync(join(dir, 'sandbox-ca.pem'), sandbox.tokens!.ca);
      // the mailbox file's home column; a mailbox left unsaid is placed by asking Autodiscover
      const homes = (online: readonly string[], unsaid: readonly string[] = []): void => writeFileSync(join(dir, 'mailboxes.csv'), `address,home\n${all.map((a) => `${a},${unsaid.includes(a) ? '' : online.includes(a) ? 'online' : 'on-premises'}`).join('\n')}\n`);
      // the mailbox file says nothing of the last mailbox: the CRM does (associate.mailbox_home), and
      // Autodiscover is off for the first start, so only the CRM's word can put it online
      homes(all.slice(6), [all[7]]);
      await db.query(`update ${crmSchema}.associate set mailbox_home = 'online' where lower(email) = $1`, [all[7]]);
      const env = { ECS_TEST_EWS_PASSWORD: 'sandbox', ECS_TEST_GRAPH_SECRET: APP.clientSecret };
      const items = (): number => sandbox.store.all().reduce((n, m) => n + sandbox.store.itemsIn(m, 'calendar').length + sandbox.store.itemsIn(m, 'tasks').length, 0);
      const rows = async (): Promise<number> => (await db.query<{ n: number }>(`select (select count(*) from ${crmSchema}.appointment)::int as n`)).rows[0].n;
      const seqs = (): string => JSON.stringify(sandbox.store.all().map((m) => ['calendar', 'tasks'].flatMap((f) => sandbox.store.itemsIn(m, f).map((i) => i.seq)).sort((a, b) => a - b)));
      const agreed = (s: ServiceProcess): Promise<string> => verifyUntilAgreed(s.opsUrl, 120_000);

      service = await startServiceProcess(file, env, dir);
      await waitUntil(async () => (await rows()) === items(), 90_000, 'every item of both sides in the CRM');
      // both ways on both sides: an Outlook edit on premises (EWS), a CRM appointment for a mailbox in Exchange Online (Graph)
      const [m0, m1, m2, m3] = sandbox.store.all();
      const first = sandbox.store.itemsIn(m0, 'calendar')[0];
      const item = await ews.Appointment.Bind(ewsService(sandbox.url, m0.address), new ews.ItemId(itemIdOf(m0.index, first.seq)));
      item.Subject = 'Edited on premises';
      await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      const online = all[7];
      // a CRM user's new appointment for the mailbox in Exchange Online
      const owner = (await db.query<{ associate_id: number }>(`select associate_id from ${crmSchema}.associate where lower(email) = $1`, [online])).rows[0].associate_id;
      await db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, 'Made in the CRM for Exchange Online', now() + interval '1 day', now() + interval '1 day 1 hour', 'Europe/Berlin')`, [owner]);
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'Edited on premises'`)).rows.length === 1, 60_000, 'the EWS edit in the CRM');
      const mailbox7 = sandbox.store.byEmail(online)!;
      await waitUntil(() => sandbox.store.itemsIn(mailbox7, 'calendar').some((i) => i.props.Subject === 'Made in the CRM for Exchange Online'), 60_000, 'the CRM appointment in the Exchange Online mailbox');
      const graphRequests = Number(/^ecs_graph_requests_total (\d+)/m.exec(await (await fetch(`${service.opsUrl}/metrics`)).text())?.[1] ?? 0);
      assert.ok(graphRequests > 0, 'Graph carried the Exchange Online mailboxes');
      await agreed(service);
      const records = await rows();
      assert.equal(records, items());

      // the sync dies; Exchange moves three mailboxes to Exchange Online; users go on changing them
      await service.stop('SIGKILL');
      sandbox.moveMailboxes([m0.address, m1.address, m2.address], 'online');
      sandbox.store.createItem(m1, 'calendar', 'CalendarItem', { Subject: 'Made while the sync was down', Start: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'), End: new Date(Date.now() + 90_000_000).toISOString().replace(/\.\d+Z$/, 'Z'), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
      const edited = sandbox.store.itemsIn(m2, 'calendar')[0];
      edited.props = { ...edited.props, Subject: 'Edited while the sync was down' };
      sandbox.store.touch(m2, edited);
      const versionsOf = (): string => JSON.stringify(sandbox.store.all().map((m) => ['calendar', 'tasks'].flatMap((f) => sandbox.store.itemsIn(m, f).map((i) => [i.seq, changeKeyOf(i.version)]))));
      const mailboxesBefore = versionsOf();

      // a dry run says what the move would find and writes nothing; m3 is still on premises
      const dry = await runCli(['migrate', '--to', 'graph', '--dry-run', '--config', file, m0.address, m1.address, m2.address, m3.address], env, dir);
      assert.equal(dry.code, 3, dry.stdout + dry.stderr);
      const mapped = (m: typeof m0): number => sandbox.store.itemsIn(m, 'calendar').length + sandbox.store.itemsIn(m, 'tasks').length;
      assert.match(dry.stdout, new RegExp(`${m0.address}: ${mapped(m0)} matched by id, 0 by stamp, 0 not found`));
      assert.match(dry.stdout, new RegExp(`${m3.address}: not in Exchange Online yet \\(MailboxNotEnabledForRESTAPI\\)`));
      assert.match(dry.stdout, /would move 3 of 4 mailboxes/);

      const moved = await runCli(['migrate', '--to', 'graph', '--batch-size', '2', '--config', file, m0.address, m1.address, m2.address], env, dir);
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      assert.match(moved.stdout, /batch 2 of 2/);
      assert.match(moved.stdout, new RegExp(`moved 3 of 3 mailboxes to Microsoft Graph in [\\d.]+ s \\([\\d.]+ s per 100 mailboxes\\): ${mapped(m0) + mapped(m1) - 1 + mapped(m2)} items matched by id, 0 by stamp, 0 not found`));
      assert.match(moved.stdout, new RegExp(`${m0.address}: .*verify before: not compared .*after: agrees`));
      const again = await runCli(['migrate', '--to', 'graph', '--config', file, m0.address], env, dir);
      assert.match(again.stdout, /synced through Microsoft Graph already/);
      assert.equal(versionsOf(), mailboxesBefore, 'migrate wrote nothing to the mailboxes');
      assert.equal(await rows(), records, 'migrate wrote nothing to the CRM');

      // and one more moved by Exchange while the sync was down, of which the mailbox file says
      // nothing: on-premises Autodiscover redirects it to the tenant, and the start moves it
      sandbox.moveMailboxes([m3.address], 'online');
      homes([m0.address, m1.address, m2.address, ...all.slice(6)], [m3.address]);
      writeFileSync(file, readFileSync(file, 'utf8').replace(' autodiscover="false"', ''));
      const itemsBeforeStart = seqs();
      service = await startServiceProcess(file, env, dir);
      await waitUntil(() => service!.lines.some((l) => l.event === 'placement.moved' && l.mailbox === m3.address), 60_000, 'the start moved the mailbox Autodiscover says is online');
      assert.equal(service.lines.find((l) => l.event === 'placement.moved' && l.mailbox === m3.address)!.by, 'Autodiscover');
      await waitUntil(async () => (await rows()) === items(), 90_000, 'the change made while the sync was down in the CRM');
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'Edited while the sync was down'`)).rows.length === 1, 60_000, 'the edit made while the sync was down in the CRM');
      await agreed(service);
      assert.equal(await rows(), items(), 'one CRM row per item');
      assert.equal(seqs(), itemsBeforeStart, 'no item made or deleted by the sync because of the move');
      assert.deepEqual(service.lines.filter((l) => l.event === 'sync.snapshot-deletes'), [], 'nothing looked deleted');
      // over Graph now: an edit in a moved mailbox reaches its record
      const third = sandbox.store.itemsIn(m0, 'calendar')[1];
      third.props = { ...third.props, Subject: 'Edited in Exchange Online' };
      sandbox.store.touch(m0, third);
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'Edited in Exchange Online'`)).rows.length === 1, 60_000, 'the edit over Graph in the CRM');
      assert.equal(await rows(), items());

      // while the sync runs: Exchange moves m4 (the sync follows by itself); the operator moves m5's state (migrate asks the running sync)
      const [m4, m5] = [sandbox.store.all()[4], sandbox.store.all()[5]];
      const m4Items = mapped(m4);
      sandbox.moveMailboxes([m4.address], 'online', 3);
      await waitUntil(() => service!.lines.some((l) => l.event === 'placement.followed' && l.mailbox === m4.address), 150_000, 'the sync following the mailbox Exchange moved');
      const followed = service.lines.find((l) => l.event === 'placement.followed' && l.mailbox === m4.address)!;
      assert.deepEqual([followed.byId, followed.byStamp, followed.unmatched], [m4Items, 0, 0], JSON.stringify(followed));
      sandbox.moveMailboxes([m5.address], 'anywhere');
      const live = await runCli(['migrate', '--to', 'graph', '--url', service.opsUrl, '--config', file, m5.address], env, dir);
      assert.equal(live.code, 0, live.stdout + live.stderr);
      assert.match(live.stdout, new RegExp(`moved 1 of 1 mailboxes to Microsoft Graph .*: ${mapped(m5)} items matched by id, 0 by stamp, 0 not found`));
      // users go on, both ways, in the mailboxes moved while the sync ran
      const fourth = sandbox.store.itemsIn(m4, 'calendar')[0];
      fourth.props = { ...fourth.props, Subject: 'Edited after the live move' };
      sandbox.store.touch(m4, fourth);
      const owner5 = (await db.query<{ associate_id: number }>(`select associate_id from ${crmSchema}.associate where lower(email) = $1`, [m5.address])).rows[0].associate_id;
      await db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, 'Made in the CRM after the live move', now() + interval '2 days', now() + interval '2 days 1 hour', 'Europe/Berlin')`, [owner5]);
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'Edited after the live move'`)).rows.length === 1, 60_000, 'the edit after the live move in the CRM');
      await waitUntil(() => sandbox.store.itemsIn(m5, 'calendar').some((i) => i.props.Subject === 'Made in the CRM after the live move'), 60_000, 'the CRM appointment in the mailbox moved live');
      await agreed(service);
      assert.equal(await rows(), items(), 'one CRM row per item after the live moves');
      const status = (await (await fetch(`${service.opsUrl}/status`)).json()) as { mailboxes: { bySide?: { ews: number; graph: number } } };
      assert.deepEqual(status.mailboxes.bySide, { ews: 0, graph: 8 });
      // verify says each mailbox's side too
      const verified = await runCli(['verify', '--all', '--url', service.opsUrl], env, dir);
      assert.match(verified.stdout, /8 mailbox\(es\) \(0 on premises over EWS, 8 in Exchange Online over Graph\), \d+ items, \d+ CRM records: both sides agree/, verified.stdout + verified.stderr);
      assert.deepEqual(service.lines.filter((l) => l.event === 'sync.snapshot-deletes'), [], 'nothing looked deleted');
    } finally {
      if (service && service.child.exitCode === null && service.child.signalCode === null) await service.stop('SIGINT');
      await sandbox.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    }
  });
});
