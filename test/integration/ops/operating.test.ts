// Operating the running service: /status and `status`, metrics after a known number of
// changes, pause/resume/resync, test-mailbox, the dead-letter commands, the status page in
// a real browser, and a graceful shutdown that loses nothing. One service process (kafka
// log, PostgreSQL CRM, an in-process sandbox) serves the whole file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { checkAgreement, fetchInventory, referenceRecords } from '../../../bench/lib/agreement.js';
import { initReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { formatUtc } from '../../../src/shared/time-zones.js';
import { PgDatabase } from '../../../src/state/index.js';
import { runCli } from '../../helpers/cli.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, writeConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ENV = { ECS_TEST_EWS_PASSWORD: 'sandbox' };

interface Status {
  ready: { ok: boolean };
  mailboxes: { total: number; byState: Record<string, number>; attention: Array<{ mailbox: string; state: string; reason?: string }> };
  latency: { toCrm: { count: number } };
  lag: { current: Record<string, number>; history: unknown[] };
  dlq: Record<string, number>;
}

describe('operating the service', () => {
  let sandbox: Sandbox;
  let db: PgDatabase;
  let service: ServiceProcess;
  let config: string;
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  const prefix = `${uniqueName('ops')}.`;
  const status = async (): Promise<Status> => (await (await fetch(`${service.opsUrl}/status`)).json()) as Status;
  const metric = async (pattern: RegExp): Promise<number> => Number(pattern.exec(await (await fetch(`${service.opsUrl}/metrics`)).text())?.[1] ?? Number.NaN);
  const crmRows = async (): Promise<number> => (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment`)).rows[0].n;
  const createItem = (address: string, subject: string): void => {
    const mailbox = sandbox.store.byEmail(address)!;
    const start = Date.now() + 86_400_000;
    sandbox.store.createItem(mailbox, 'calendar', 'CalendarItem', { Subject: subject, Start: formatUtc(start), End: formatUtc(start + 3_600_000), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
  };

  before(async () => {
    sandbox = await startSandbox({ mailboxes: 6, itemsPerMailbox: 2, seed: 808, limits: { heartbeatMs: 500 } });
    sandbox.store.byEmail('user0006@contoso.test')!.denied = true;
    db = new PgDatabase(postgresUrl());
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
    config = writeConfig(`
      <exchange><events><advise Object="EwsStream"/></events>
        <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
        <mailboxes source="crm" refresh="5s"/></exchange>
      <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="500ms"/>
      <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${prefix}" partitions="3"/>
      <ops listen="127.0.0.1:0" shutdownTimeout="30s"/>`).file;
    service = await startServiceProcess(config, ENV);
    await waitUntil(async () => {
      const s = await status();
      return s.mailboxes.byState.active === 5 && s.mailboxes.byState.failed === 1;
    }, 60_000, '5 mailboxes active and the denied one failed');
    await waitUntil(async () => (await crmRows()) === 10, 60_000, 'the initial sync in the CRM');
  });

  after(async () => {
    await service?.stop('SIGKILL');
    await sandbox?.close();
    await db?.close();
  });

  it('/status and `status` show mailboxes by state, the failed one first with its reason', async () => {
    const s = await status();
    assert.equal(s.mailboxes.total, 6);
    assert.equal(s.mailboxes.attention[0].mailbox, 'user0006@contoso.test');
    assert.equal(s.mailboxes.attention[0].state, 'failed');
    assert.match(s.mailboxes.attention[0].reason ?? '', /impersonat/i);
    assert.deepEqual(Object.keys(s.dlq).sort(), [`${prefix}crm.changes.dlq`, `${prefix}exchange.changes.dlq`]);

    const human = await runCli(['status', '--url', service.opsUrl]);
    assert.equal(human.code, 3, 'a failed mailbox is something to look at: exit 3');
    assert.match(human.stdout, /mailboxes: 6 — 5 active, 1 failed/);
    assert.match(human.stdout, /failed\s+user0006@contoso.test — .*impersonat/i);
    const json = await runCli(['status', '--url', service.opsUrl, '--json']);
    assert.equal((JSON.parse(json.stdout) as Status).mailboxes.byState.active, 5);
    const down = await runCli(['status', '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /does not answer at http:\/\/127.0.0.1:9/);
  });

  it('metrics count exactly the changes made: published, applied, lag back to 0, mailboxes by state', async () => {
    const topic = `${prefix}exchange.changes`;
    const published = new RegExp(`ecs_messages_published_total\\{topic="${topic.replace(/\./g, '\\.')}"\\} (\\d+)`);
    const applied = /ecs_end_to_end_latency_seconds_count\{direction="to-crm"\} (\d+)/;
    const [published0, applied0, rows0] = [await metric(published), await metric(applied), await crmRows()];
    for (let i = 1; i <= 5; i++) createItem(`user000${i}@contoso.test`, `Metrics check ${i}`);
    await waitUntil(async () => (await crmRows()) === rows0 + 5, 30_000, 'five new rows');
    await waitUntil(async () => (await metric(applied)) === applied0 + 5, 10_000, 'five applied changes counted');
    assert.equal(await metric(published), published0 + 5, 'five envelopes published');
    await waitUntil(async () => (await metric(new RegExp(`kafka_consumergroup_lag_sum\\{consumergroup="${prefix.replace(/\./g, '\\.')}to-crm",topic="${topic.replace(/\./g, '\\.')}"\\} (\\d+)`))) === 0, 15_000, 'lag 0');
    assert.equal(await metric(/ecs_mailboxes\{state="active"\} (\d+)/), 5);
    assert.equal(await metric(/ecs_mailboxes\{state="failed"\} (\d+)/), 1);
    assert.ok((await metric(/ecs_ews_errors_total\{operation="[^"]+",code="ErrorImpersonateUserDenied"\} (\d+)/)) >= 1, 'EWS errors by code');
    assert.ok((await status()).latency.toCrm.count >= 5);
  });

  it('pause stops one mailbox, resume picks up what changed meanwhile; resync and bad arguments', async () => {
    const paused = await runCli(['pause', 'user0002@contoso.test', '--url', service.opsUrl]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal((await status()).mailboxes.attention.find((m) => m.mailbox === 'user0002@contoso.test')?.state, 'paused');
    const rows0 = await crmRows();
    createItem('user0002@contoso.test', 'Made while paused');
    createItem('user0003@contoso.test', 'Made meanwhile elsewhere');
    await waitUntil(async () => (await crmRows()) === rows0 + 1, 15_000, 'the other mailbox synced');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await crmRows(), rows0 + 1, 'the paused mailbox sent nothing');
    const resumed = await runCli(['resume', 'user0002@contoso.test', '--url', service.opsUrl]);
    assert.equal(resumed.code, 0, resumed.stderr);
    await waitUntil(async () => (await crmRows()) === rows0 + 2, 30_000, 'the change made while paused');

    const resync = await runCli(['resync', 'user0003@contoso.test', '--url', service.opsUrl]);
    assert.equal(resync.code, 0, resync.stderr);
    assert.match(resync.stdout, /resync of user0003@contoso.test started/);
    const unknown = await runCli(['pause', 'nobody@contoso.test', '--url', service.opsUrl]);
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /nobody@contoso.test is not a mailbox this instance syncs/);
    const neither = await runCli(['resync', '--url', service.opsUrl]);
    assert.equal(neither.code, 2);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(await crmRows(), rows0 + 2, 'a resync duplicates nothing');
  });

  it('test-mailbox says what works and exactly what is missing', async () => {
    const ok = await runCli(['test-mailbox', 'user0001@contoso.test', '--config', config], ENV);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /✓ impersonation and folders/);
    assert.match(ok.stdout, /✓ subscribe and unsubscribe \(streaming\)/);
    assert.match(ok.stdout, /ready to sync/);
    const denied = await runCli(['test-mailbox', 'user0006@contoso.test', '--config', config], ENV);
    assert.equal(denied.code, 3);
    assert.match(denied.stdout, /✗ impersonation and folders: .*ApplicationImpersonation role/);
    const wrongPassword = await runCli(['test-mailbox', 'user0001@contoso.test', '--config', config], { ECS_TEST_EWS_PASSWORD: 'wrong' });
    assert.equal(wrongPassword.code, 3);
    assert.match(wrongPassword.stdout, /HTTP 401/);
  });

  it('a poison message is parked; dlq list shows why and where from; dlq replay sends it back', async () => {
    const { KafkaTransport } = await import('../../../src/streams/transport/kafka-transport.js');
    const { silentLogger } = await import('../../../src/shared/logger.js');
    const transport = new KafkaTransport({ type: 'kafka', brokers: kafkaBrokers(), topicPrefix: prefix, partitions: 3, replicationFactor: 1, clientId: 'test', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' }, silentLogger());
    try {
      await transport.publish(`${prefix}exchange.changes`, [{ key: 'user0001@contoso.test', value: '{"not":"an envelope"}', headers: {} }]);
    } finally {
      await transport.close();
    }
    const dlq = `${prefix}exchange.changes.dlq`;
    await waitUntil(async () => (await status()).dlq[dlq] === 1, 20_000, 'the poison message in the DLQ');
    const list = await runCli(['dlq', 'list', '--config', config, '--topic', 'exchange'], ENV);
    assert.equal(list.code, 3, list.stderr);
    assert.match(list.stdout, new RegExp(`${dlq.replace(/\./g, '\\.')}: 1 message`));
    assert.match(list.stdout, /key user0001@contoso.test\s+\[handler\] POISON_MESSAGE: not a valid change envelope/);
    assert.match(list.stdout, new RegExp(`from ${prefix.replace(/\./g, '\\.')}exchange\\.changes \\d+/\\d+, group ${prefix.replace(/\./g, '\\.')}to-crm`));
    const replay = await runCli(['dlq', 'replay', '--config', config, '--topic', 'exchange'], ENV);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /1 message\(s\) replayed/);
    // still poison: parked again, and the first copy shows as replayed
    await waitUntil(async () => (await status()).dlq[dlq] === 1, 20_000, 'the replayed copy parked again');
    const json = JSON.parse((await runCli(['dlq', 'list', '--config', config, '--topic', 'exchange', '--json'], ENV)).stdout) as Record<string, Array<{ replayed: boolean }>>;
    assert.deepEqual(json[dlq].map((l) => l.replayed), [true, false]);
  });

  it('the status page shows it all in a real browser, live', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/test.mjs installs Debian's chromium when it can)` }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${service.opsUrl}/`);
      await page.waitForFunction("document.getElementById('updated').textContent !== 'never'");
      assert.match((await page.textContent('#mailbox-counts')) ?? '', /total\s*6/);
      assert.match((await page.textContent('#mailbox-counts')) ?? '', /failed\s*1/);
      const firstRow = (await page.textContent('#attention tbody tr:first-child')) ?? '';
      assert.match(firstRow, /user0006@contoso.test\s*failed/);
      assert.ok((await page.locator('#lag-chart polyline').count()) >= 2, 'a lag line per group and topic');
      assert.match((await page.textContent('#latency')) ?? '', /to CRM p50\s*\d+/);
      assert.match((await page.textContent('#ews-errors')) ?? '', /ErrorImpersonateUserDenied/);
      assert.match((await page.textContent('#dlq')) ?? '', /exchange\.changes\.dlq\s*1/);
      assert.match((await page.textContent('#ready')) ?? '', /ready/);
      // live: a change made now shows in the counts without a reload
      const before = Number(/to CRM changes\s*(\d+)/.exec((await page.textContent('#latency')) ?? '')?.[1]);
      createItem('user0004@contoso.test', 'Seen live');
      await page.waitForFunction(`Number((/to CRM changes\\s*(\\d+)/.exec(document.getElementById('latency').textContent) || [])[1]) > ${before}`, undefined, { timeout: 20_000 });
      // the search box: one mailbox's state, last event and lag
      await page.fill('#mailbox-query', 'user0004@contoso.test');
      await page.click('#search button');
      await page.waitForSelector('#mailbox-result table');
      const result = (await page.textContent('#mailbox-result')) ?? '';
      assert.match(result, /user0004@contoso.test/);
      assert.match(result, /State\s*active/);
      assert.match(result, /Last event\s*\d{4}-/);
      assert.match(result, /Lag \(changes not yet applied\)\s*0/);
      await page.fill('#mailbox-query', 'nobody@contoso.test');
      await page.click('#search button');
      await page.waitForSelector('#mailbox-result .bad');
      assert.match((await page.textContent('#mailbox-result')) ?? '', /not a mailbox this instance syncs/);
    } finally {
      await browser.close();
    }
  });

  it('SIGTERM during activity: ordered shutdown, exit 0; after a restart nothing is lost or doubled', async () => {
    sandbox.activity.mailboxFilter = (m) => !m.denied;
    sandbox.activity.setRate(40);
    await new Promise((r) => setTimeout(r, 2_000));
    const code = await service.stop('SIGTERM');
    sandbox.activity.setRate(0);
    assert.equal(code, 0, service.stderr());
    const events = service.lines.map((l) => l.event);
    for (const e of ['shutdown.begin', 'shutdown.end']) assert.ok(events.includes(e), `${e} logged`);
    assert.equal(service.lines.find((l) => l.event === 'shutdown.end')?.clean, true);
    const steps = service.lines.filter((l) => l.event === 'shutdown.step').map((l) => l.component);
    assert.deepEqual(steps.slice(0, 4), ['ops-http', 'verify-sample', 'lag-history', 'transport-health'], 'stops taking work first');
    assert.ok(steps.indexOf('exchange-to-log') < steps.indexOf('subscriptions') && steps.indexOf('subscriptions') < steps.indexOf('transport'), 'in-flight changes published, positions saved, then the log closed');
    service = await startServiceProcess(config, ENV);
    await waitUntil(async () => {
      const inventory = await fetchInventory(sandbox.url.replace('/EWS/Exchange.asmx', ''));
      delete inventory['user0006@contoso.test']; // denied: never synced
      const a = await checkAgreement(db, stateSchema, await referenceRecords(db, crmSchema), inventory);
      return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0 ? a : undefined;
    }, 60_000, 'the CRM to agree with the mailboxes after the restart');
  });
});
