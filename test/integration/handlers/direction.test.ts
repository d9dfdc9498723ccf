import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { PgDatabase } from '../../../src/state/index.js';
import { runCli } from '../../helpers/cli.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, untilNoLag, writeConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Each mailbox's direction, from the mailbox file's direction column, on the real parts
 * (EwsStream on the sandbox, the reference CRM on PostgreSQL, Kafka): to-crm writes nothing
 * to the mailbox, to-exchange nothing to the CRM, off neither (the mailbox is not subscribed),
 * two-way both; verify counts what a direction implies as agreeing and says so; a mailbox
 * switched on in the file is synced without a restart, and one the CRM makes to-crm
 * (associate.sync_direction) is no longer written to.
 */
describe('sync policy: each mailbox\'s direction', () => {
  it('to-crm, to-exchange, off and two-way mailboxes side by side; switched on without a restart', { timeout: 300_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 2, seed: 404 });
    const [toCrm, toExchange, off, twoWay] = sandbox.store.all();
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    let service: ServiceProcess | undefined;
    try {
      await initReferenceCrm(db, crmSchema);
      await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
      const { file, dir } = writeConfig(`<exchange><events><advise Object="EwsStream"/></events>
        <ews url="${sandbox.url}" user="${sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
        <mailboxes file="mailboxes.csv" refresh="5s"/></exchange>
        <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="300ms"/>
        <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName('direction')}." partitions="2"/>
        <sync items="appointments"/><ops listen="127.0.0.1:0"/>`);
      const directions = (offOne: string, toCrmOne = 'to-crm'): void => writeFileSync(join(dir, 'mailboxes.csv'),
        `address,direction\n${toCrm.address},${toCrmOne}\n${toExchange.address},to-exchange\n${off.address},${offOne}\n${twoWay.address},\n`);
      directions('off');
      const env = { ECS_TEST_EWS_PASSWORD: 'sandbox' };
      const rowsOf = async (mailbox: string): Promise<string[]> => (await db.query<{ title: string }>(
        `select a.title from ${crmSchema}.appointment a join ${crmSchema}.associate s using (associate_id) where lower(s.email) = $1 order by a.title`, [mailbox])).rows.map((r) => r.title);
      const subjectsOf = (m: typeof toCrm): string[] => sandbox.store.itemsIn(m, 'calendar').map((i) => String(i.props.Subject)).sort();
      service = await startServiceProcess(file, env, dir);
      const calendar = (m: typeof toCrm): number => sandbox.store.itemsIn(m, 'calendar').length;
      assert.ok(calendar(toCrm) > 0 && calendar(twoWay) > 0 && calendar(toExchange) > 0 && calendar(off) > 0, 'every mailbox has appointments');
      await waitUntil(async () => (await rowsOf(toCrm.address)).length === calendar(toCrm) && (await rowsOf(twoWay.address)).length === calendar(twoWay), 90_000, 'the to-crm and two-way mailboxes\' items in the CRM');
      await untilNoLag(service);
      assert.deepEqual(await rowsOf(toExchange.address), [], 'to-exchange: nothing written to the CRM');
      assert.deepEqual(await rowsOf(off.address), [], 'off: nothing synced');

      // users on both sides, for every mailbox
      const later = (h: number): string => new Date(Date.now() + h * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
      for (const m of [toCrm, toExchange, off, twoWay]) {
        sandbox.store.createItem(m, 'calendar', 'CalendarItem', { Subject: `Outlook ${m.address}`, Start: later(24), End: later(25), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
        await db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) select associate_id, 1, $2, now() + interval '2 days', now() + interval '2 days 1 hour', 'Europe/Berlin' from ${crmSchema}.associate where lower(email) = $1`, [m.address, `CRM ${m.address}`]);
      }
      await waitUntil(async () => (await rowsOf(twoWay.address)).includes(`Outlook ${twoWay.address}`) && subjectsOf(twoWay).includes(`CRM ${twoWay.address}`)
        && (await rowsOf(toCrm.address)).includes(`Outlook ${toCrm.address}`) && subjectsOf(toExchange).includes(`CRM ${toExchange.address}`), 90_000, 'the changes each direction carries');
      await untilNoLag(service);
      assert.ok(!subjectsOf(toCrm).includes(`CRM ${toCrm.address}`), 'to-crm: the CRM appointment was not written to the mailbox');
      assert.deepEqual(await rowsOf(toExchange.address), [`CRM ${toExchange.address}`], 'to-exchange: the Outlook appointment was not written to the CRM');
      assert.ok(!subjectsOf(off).includes(`CRM ${off.address}`), 'off: nothing written to the mailbox');
      assert.deepEqual(await rowsOf(off.address), [`CRM ${off.address}`], 'off: nothing written to the CRM');
      const metrics = await (await fetch(`${service.opsUrl}/metrics`)).text();
      // the to-exchange mailbox's items that did not come from the CRM (the sync's own write of the
      // CRM's appointment coming back is no change, and is not counted)
      assert.ok(Number(/^ecs_policy_skipped_total\{rule="direction",towards="crm"\} (\d+)/m.exec(metrics)?.[1] ?? 0) >= calendar(toExchange) - 1, metrics.split('\n').filter((l) => l.includes('policy')).join('\n'));
      assert.ok(Number(/^ecs_policy_skipped_total\{rule="direction",towards="exchange"\} (\d+)/m.exec(metrics)?.[1] ?? 0) >= 2);
      const status = (await (await fetch(`${service.opsUrl}/status`)).json()) as { mailboxes: { total: number; byDirection?: Record<string, number> } };
      assert.equal(status.mailboxes.total, 3, 'the mailbox switched off is not subscribed');
      assert.deepEqual(status.mailboxes.byDirection, { 'to-crm': 1, 'to-exchange': 1 });
      // the mailbox's own view: its direction and what the policy kept from the other side
      for (const m of [toCrm, toExchange]) {
        const view = (await (await fetch(`${service.opsUrl}/status/mailbox?address=${encodeURIComponent(m.address)}`)).json()) as { direction?: string; skipped?: Record<string, number> };
        assert.equal(view.direction, m === toCrm ? 'to-crm' : 'to-exchange');
        assert.ok((view.skipped?.direction ?? 0) >= 1, `${m.address}: ${JSON.stringify(view)}`);
      }
      const twoWayView = (await (await fetch(`${service.opsUrl}/status/mailbox?address=${encodeURIComponent(twoWay.address)}`)).json()) as { skipped?: unknown };
      assert.equal(twoWayView.skipped, undefined, 'nothing kept from a two-way mailbox');

      // verify: what a direction implies is no disagreement, and is said
      const verified = await runCli(['verify', '--all', '--url', service.opsUrl], env, dir);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.match(verified.stdout, new RegExp(`= ${toCrm.address.replace('.', '\\.')}: synced to-crm: 1 difference\\(s\\) its direction implies, counted as agreeing`));
      // to-exchange: every item but the one the CRM made is in the mailbox only
      assert.match(verified.stdout, new RegExp(`= ${toExchange.address.replace('.', '\\.')}: synced to-exchange: ${calendar(toExchange) - 1} difference\\(s\\)`));
      assert.match(verified.stdout, /3 mailbox\(es\), .*both sides agree/);

      // switched on in the file, and read at once by `reload` (as SIGHUP does): no restart
      directions('two-way');
      const reloaded = await runCli(['reload', '--url', service.opsUrl], env, dir);
      assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
      assert.match(reloaded.stdout, /sync policy read again: every mailbox two-way unless named; named: 1 two-way, 1 to-crm, 1 to-exchange/);
      service.child.kill('SIGHUP');
      await waitUntil(() => service!.lines.some((l) => l.event === 'policy.reloaded' && String(l.msg).startsWith('SIGHUP')), 30_000, 'SIGHUP read the policy again');
      // its items reach the CRM from its saved position, and the CRM's appointment made while it was off reaches it (caught up)
      await waitUntil(async () => (await rowsOf(off.address)).length === calendar(off) && subjectsOf(off).includes(`CRM ${off.address}`), 90_000, 'the mailbox switched on: its items in the CRM, the CRM\'s in the mailbox');
      assert.deepEqual((await rowsOf(off.address)).filter((t) => t.startsWith('Outlook')), [`Outlook ${off.address}`]);
      assert.deepEqual(subjectsOf(off).filter((t) => t.startsWith('CRM')), [`CRM ${off.address}`], 'once');
      assert.ok(service.lines.some((l) => l.event === 'policy.direction-changed' && l.mailbox === off.address), 'the switch is logged');

      // a CRM administrator makes the two-way mailbox to-crm (associate.sync_direction): no restart
      await db.query(`update ${crmSchema}.associate set sync_direction = 'to-crm' where lower(email) = $1`, [twoWay.address]);
      await waitUntil(() => service!.lines.some((l) => l.event === 'policy.direction-changed' && l.mailbox === twoWay.address && l.direction === 'to-crm'), 30_000, 'the CRM\'s word read');
      sandbox.store.createItem(twoWay, 'calendar', 'CalendarItem', { Subject: 'Outlook again', Start: later(48), End: later(49), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
      await db.query(`insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) select associate_id, 1, 'CRM again', now() + interval '3 days', now() + interval '3 days 1 hour', 'Europe/Berlin' from ${crmSchema}.associate where lower(email) = $1`, [twoWay.address]);
      await waitUntil(async () => (await rowsOf(twoWay.address)).includes('Outlook again'), 60_000, 'the Outlook change of the now to-crm mailbox in the CRM');
      await untilNoLag(service);
      assert.ok(!subjectsOf(twoWay).includes('CRM again'), 'to-crm by the CRM\'s word: the CRM appointment was not written to the mailbox');

      // the configuration file's <sync direction> read again by reload; a broken file is refused, the policy kept
      const configText = readFileSync(file, 'utf8');
      writeFileSync(file, configText.replace('<sync items="appointments"/>', '<sync items="appointments" direction="to-crm"/>'));
      const again = await runCli(['reload', '--url', service.opsUrl], env, dir);
      assert.match(again.stdout, /sync policy read again: every mailbox to-crm unless named/, again.stdout + again.stderr);
      assert.ok(service.lines.some((l) => l.event === 'policy.direction-changed' && l.mailbox === '*' && l.direction === 'to-crm'), 'the new default is logged');
      writeFileSync(file, configText.replace('<sync items="appointments"/>', '<sync items="appointments" direction="sideways"/>'));
      const refused = await runCli(['reload', '--url', service.opsUrl], env, dir);
      assert.match(refused.stdout, /every mailbox to-crm unless named/, 'the policy stays as it was');
      const line = service.lines.find((l) => l.event === 'policy.file-refused');
      assert.match(String(line?.msg), /sync@direction.*sideways.*the sync policy in it stays as it was/);
      writeFileSync(file, configText);

      // while the to-crm mailbox is to-crm, a CRM user renames one of its records and deletes another: not written to the mailbox
      const { rows: records } = await db.query<{ appointment_id: number; title: string }>(`select a.appointment_id, a.title from ${crmSchema}.appointment a join ${crmSchema}.associate s using (associate_id)
        where lower(s.email) = $1 and a.title not like 'CRM %' order by a.appointment_id limit 2`, [toCrm.address]);
      const before = subjectsOf(toCrm);
      const count = (list: string[], title: string): number => list.filter((t) => t === title).length;
      await db.query(`update ${crmSchema}.appointment set title = 'Renamed in the CRM' where appointment_id = $1`, [records[0].appointment_id]);
      await db.query(`delete from ${crmSchema}.appointment where appointment_id = $1`, [records[1].appointment_id]);
      await sleep(1_500);
      await untilNoLag(service);
      assert.deepEqual(subjectsOf(toCrm), before, 'to-crm: the CRM\'s rename and delete are not written');
      // ... switched to two-way: what the CRM did meanwhile is caught up, as the mailbox's own changes would be
      directions('two-way', 'two-way');
      const switched = await runCli(['reload', '--url', service.opsUrl], env, dir);
      assert.equal(switched.code, 0, switched.stdout + switched.stderr);
      await waitUntil(() => subjectsOf(toCrm).includes('Renamed in the CRM') && subjectsOf(toCrm).includes(`CRM ${toCrm.address}`)
        && count(subjectsOf(toCrm), records[1].title) === count(before, records[1].title) - 1, 60_000, 'the CRM\'s changes made while to-crm in the mailbox');
      await untilNoLag(service);
      assert.equal(subjectsOf(toCrm).length, before.length, 'one renamed, one deleted, one made: no more, no fewer');
      const caughtUp = service.lines.find((l) => l.event === 'catch-up.done' && l.mailbox === toCrm.address);
      assert.equal(caughtUp?.changes, 3, JSON.stringify(caughtUp));
    } finally {
      if (service && service.child.exitCode === null && service.child.signalCode === null) await service.stop('SIGINT');
      await sandbox.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    }
  });
});
