import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * A deployment that moves from EWS to Microsoft Graph (EWS ends in Exchange Online on
 * 2027-04-01): the demo on its data folder, synced both ways over EwsStream, stopped, its
 * <advise> changed to GraphNotify, started again. The state's EWS ItemIds become Graph ids and
 * its positions are re-based, so the first Graph read meets every item at its mapping: nothing
 * is created, changed or deleted in the mailboxes or the CRM by the move, and the sync goes on.
 * Before, every item looked new (another id) and every mapping deleted.
 */
describe('moving a deployment from EWS to Microsoft Graph', () => {
  it('keeps every mapping: the mailboxes and the CRM untouched by the move, verify agrees, changes flow both ways after it', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-move-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    const write = (advise: string): void => writeFileSync(configFile,
      `<configuration><calendar_sync><exchange><events><advise Object="${advise}"/></events></exchange><ops listen="127.0.0.1:0"/><sandbox mailboxes="4" activity="0"/></calendar_sync></configuration>`);
    const mailbox = 'user0002@contoso.test';
    const sandboxOf = (service: ServiceProcess): string => String(service.lines.find((l) => l.event === 'sandbox.started')?.url).replace('/EWS/Exchange.asmx', '');
    const get = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;
    const crmTitles = async (service: ServiceProcess): Promise<string[]> => (await get<Array<{ title: string }>>(`${service.opsUrl}/demo/crm-appointments?mailbox=${mailbox}`)).map((a) => a.title);
    const post = (url: string, body: unknown): Promise<Response> => fetch(url, { method: 'POST', body: JSON.stringify(body) });
    /** verify --all until it agrees; its summary line ("4 mailbox(es), N items, M CRM records: …"). */
    const agreed = async (service: ServiceProcess): Promise<string> => {
      const last = await verifyUntilAgreed(service.opsUrl, 90_000);
      return /\d+ mailbox\(es\), \d+ items, \d+ CRM records/.exec(last)?.[0] ?? last;
    };
    const active = (service: ServiceProcess): Promise<void> => waitUntil(async () => (await get<{ mailboxes: { byState: { active: number } } }>(`${service.opsUrl}/status`)).mailboxes.byState.active === 4, 90_000, 'every mailbox active');

    write('EwsStream');
    let service = await startServiceProcess(configFile, {}, dir);
    try {
      await active(service);
      // both ways over EWS: an Outlook appointment to the CRM, a CRM appointment to the mailbox
      assert.equal((await post(`${service.opsUrl}/demo/exchange-appointments`, { mailbox, subject: 'Made in Outlook over EWS' })).status, 201);
      assert.equal((await post(`${service.opsUrl}/demo/crm-appointments`, { mailbox, subject: 'Made in the CRM over EWS' })).status, 201);
      await waitUntil(async () => (await crmTitles(service)).includes('Made in Outlook over EWS'), 40_000, 'the Outlook appointment in the CRM');
      await waitUntil(async () => (await get<Array<{ subject: string }>>(`${service.opsUrl}/demo/exchange-appointments?mailbox=${mailbox}`)).some((i) => i.subject === 'Made in the CRM over EWS'), 40_000, 'the CRM appointment in the mailbox');
      const before = await agreed(service);
      const inventory = await get<unknown>(`${sandboxOf(service)}/sandbox/inventory`);
      const titles = (await crmTitles(service)).sort();
      assert.equal(await service.stop('SIGINT'), 0, service.stderr());

      // the operator changes <advise> and starts again: the built-in sandbox now serves the same mailboxes over Graph
      write('GraphNotify');
      service = await startServiceProcess(configFile, {}, dir);
      await waitUntil(() => service.lines.some((l) => l.event === 'migration.done'), 60_000, 'the migration logged');
      const done = service.lines.find((l) => l.event === 'migration.done')!;
      assert.equal(done.mailboxes, 4);
      assert.ok(Number(done.byId) > 0, JSON.stringify(done));
      assert.equal(done.unmatched, 0, JSON.stringify(done));
      await active(service);
      const after = await agreed(service);
      assert.equal(after, before, 'the same items and CRM records');
      assert.deepEqual(await get<unknown>(`${sandboxOf(service)}/sandbox/inventory`), inventory, 'no item created, changed or deleted in the mailboxes by the move');
      assert.deepEqual((await crmTitles(service)).sort(), titles, 'no CRM record created or deleted by the move');
      assert.deepEqual(service.lines.filter((l) => l.event === 'sync.snapshot-deletes'), [], 'nothing looked deleted');

      // and the sync goes on over Graph, both ways
      assert.equal((await post(`${service.opsUrl}/demo/exchange-appointments`, { mailbox, subject: 'Made in Outlook over Graph' })).status, 201);
      assert.equal((await post(`${service.opsUrl}/demo/crm-appointments`, { mailbox, subject: 'Made in the CRM over Graph' })).status, 201);
      await waitUntil(async () => (await crmTitles(service)).includes('Made in Outlook over Graph'), 40_000, 'the Outlook appointment in the CRM over Graph');
      await waitUntil(async () => (await get<Array<{ subject: string }>>(`${service.opsUrl}/demo/exchange-appointments?mailbox=${mailbox}`)).some((i) => i.subject === 'Made in the CRM over Graph'), 40_000, 'the CRM appointment in the mailbox over Graph');
      await agreed(service);

      // a restart on Graph moves nothing again; going back to EWS is refused with a reason (exit 2)
      assert.equal(await service.stop('SIGINT'), 0, service.stderr());
      write('EwsStream');
      const back = await runCli(['start', '--config', configFile], {}, dir);
      assert.equal(back.code, 2, back.stdout + back.stderr);
      assert.match(back.stderr, /holds Microsoft Graph's item ids/);
    } finally {
      if (service.child.exitCode === null) assert.equal(await service.stop('SIGINT'), 0, service.stderr());
    }
  });

  it('on a real deployment (another name for the organisation over Graph) the start refuses and names --move-to-graph; with it the state is kept', { timeout: 300_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 4, seed: 707, oauth: { apps: [{ tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: 'move-secret' }] }, graph: true });
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    let service: ServiceProcess | undefined;
    try {
      await initReferenceCrm(db, crmSchema);
      await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
      const common = `<mailboxes source="crm" refresh="10s"/></exchange>
        <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="300ms"/>
        <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName('move')}." partitions="2"/>
        <sync items="appointments,tasks"/><ops listen="127.0.0.1:0"/>`;
      const overEws = writeConfig(`<exchange><events><advise Object="EwsStream"/></events>
        <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>${common}`);
      const overGraph = writeConfig(`<exchange><events><advise Object="GraphNotify"/></events>
        <graph url="${sandbox.graph!.url}" authority="${sandbox.tokens!.url}" tenant="contoso" clientId="exchange-crm-sync" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="sandbox-ca.pem"/>${common}`);
      writeFileSync(join(overGraph.dir, 'sandbox-ca.pem'), sandbox.tokens!.ca);
      const env = { ECS_TEST_EWS_PASSWORD: 'sandbox', ECS_TEST_GRAPH_SECRET: 'move-secret' };
      const items = (): number => sandbox.store.all().reduce((n, m) => n + sandbox.store.itemsIn(m, 'calendar').length + sandbox.store.itemsIn(m, 'tasks').length, 0);
      const rows = async (): Promise<number> => (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment`)).rows[0].n;
      const versions = (): string => JSON.stringify(sandbox.store.all().map((m) => ['calendar', 'tasks'].flatMap((f) => sandbox.store.itemsIn(m, f).map((i) => [i.seq, changeKeyOf(i.version)]))));

      service = await startServiceProcess(overEws.file, env, overEws.dir);
      await waitUntil(async () => (await rows()) === items(), 60_000, 'every item in the CRM over EWS');
      await new Promise((r) => setTimeout(r, 2_000));
      const records = await rows();
      assert.equal(records, items());
      const before = versions();
      assert.equal(await service.stop('SIGINT'), 0, service.stderr());

      // Graph names the organisation by its tenant: another name, so the plain start refuses, saying what to do
      const refused = await runCli(['start', '--config', overGraph.file], env, overGraph.dir);
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /--move-to-graph/);

      service = await startServiceProcess(overGraph.file, env, overGraph.dir, ['--move-to-graph']);
      await waitUntil(() => service!.lines.some((l) => l.event === 'migration.done'), 60_000, 'the migration logged');
      const done = service.lines.find((l) => l.event === 'migration.done')!;
      assert.deepEqual([done.mailboxes, done.byId, done.byStamp, done.unmatched], [3, records, 0, 0]);
      await waitUntil(async () => (await (await fetch(`${service!.opsUrl}/readyz`)).status) === 200, 60_000, 'ready over Graph');
      const { code, stdout } = await runCli(['verify', '--all', '--url', service.opsUrl]);
      assert.equal(code, 0, stdout);
      assert.equal(await rows(), records, 'no CRM record created or deleted by the move');
      assert.equal(versions(), before, 'no item created, changed or deleted in the mailboxes by the move');
      // an Outlook edit after the move reaches its record over Graph
      const mailbox = sandbox.store.all()[0];
      const [first] = sandbox.store.itemsIn(mailbox, 'calendar');
      const item = await ews.Appointment.Bind(ewsService(sandbox.url, mailbox.address), new ews.ItemId(itemIdOf(mailbox.index, first.seq)));
      item.Subject = 'Renamed after the move';
      await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'Renamed after the move'`)).rows.length === 1, 60_000, 'the edit in the CRM');
      assert.equal(await rows(), records);
    } finally {
      if (service && service.child.exitCode === null) await service.stop('SIGINT');
      await sandbox.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    }
  });
});
