import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verifyUntilAgreed } from '../helpers/cli.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { waitUntil } from '../helpers/source-harness.js';

/**
 * `npm start` stopped and started again on the same data folder, as a new user does: the
 * demo goes on where it was. Before, the built-in sandbox was made anew at every start with
 * the same ItemIds: the first run's items looked deleted (snapshot deletes), and a new item
 * that got the ItemId of a deleted one never reached the CRM, while the status said all was well.
 */
describe('npm start restarted on the same data folder', () => {
  it('meets the same mailboxes after a clean stop and after a SIGKILL: nothing looks deleted, new items reach the CRM, verify agrees', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-restart-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    // the demo's own activity creates, changes and deletes items all along, as `npm start` does
    writeFileSync(configFile, `<configuration><calendar_sync><ops listen="127.0.0.1:0"/><sandbox mailboxes="4" activity="4"/></calendar_sync></configuration>`);
    const mailbox = 'user0002@contoso.test';
    const started = (service: ServiceProcess): Record<string, unknown> => service.lines.find((l) => l.event === 'sandbox.started') ?? {};
    const inCrm = async (service: ServiceProcess, title: string): Promise<boolean> =>
      ((await (await fetch(`${service.opsUrl}/demo/crm-appointments?mailbox=${mailbox}`)).json()) as Array<{ title: string }>).some((a) => a.title === title);
    const outlookItemReachesCrm = async (service: ServiceProcess, subject: string): Promise<void> => {
      // the service's first sync of the four mailboxes done (on a busy machine it takes a while), then the user's item
      await waitUntil(async () => ((await (await fetch(`${service.opsUrl}/status`)).json()) as { mailboxes: { initialSyncDone: number; byState: { active: number } } }).mailboxes.byState.active === 4, 90_000, 'every mailbox synced and active');
      const made = await fetch(`${service.opsUrl}/demo/exchange-appointments`, { method: 'POST', body: JSON.stringify({ mailbox, subject }) });
      assert.equal(made.status, 201);
      await waitUntil(() => inCrm(service, subject), 120_000, `"${subject}" to reach the CRM`);
    };
    /** The demo's activity stopped, then verify of every mailbox until it agrees (exit 0). */
    const agrees = async (service: ServiceProcess): Promise<void> => {
      const sandboxUrl = String(started(service).url).replace('/EWS/Exchange.asmx', '');
      assert.equal((await fetch(`${sandboxUrl}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: 0 }) })).status, 200);
      await verifyUntilAgreed(service.opsUrl, 60_000);
    };
    const snapshotDeletes = (service: ServiceProcess): unknown[] => service.lines.filter((l) => l.event === 'sync.snapshot-deletes');

    const first = await startServiceProcess(configFile, {}, dir);
    let service = first;
    try {
      assert.equal(started(first).outcome, 'fresh');
      await outlookItemReachesCrm(first, 'Before the restart');
      // let the demo's activity create and delete items (ItemIds a fresh sandbox would hand out again)
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(await first.stop('SIGINT'), 0, first.stderr());

      service = await startServiceProcess(configFile, {}, dir);
      assert.equal(started(service).outcome, 'restored', JSON.stringify(started(service)));
      assert.equal(started(service).organisation, started(first).organisation, 'the same Exchange organisation');
      await outlookItemReachesCrm(service, 'After a restart');
      await agrees(service);
      assert.deepEqual(snapshotDeletes(service), [], 'nothing looked deleted after a clean restart');

      // a crash: the sandbox comes back as last saved; what it hands out after never repeats an ItemId
      assert.notEqual(await service.stop('SIGKILL'), 0);
      service = await startServiceProcess(configFile, {}, dir);
      assert.equal(started(service).outcome, 'recovered', JSON.stringify(started(service)));
      assert.equal(started(service).organisation, started(first).organisation);
      await outlookItemReachesCrm(service, 'After a crash');
      await agrees(service);
    } finally {
      if (service.child.exitCode === null) assert.equal(await service.stop('SIGINT'), 0, service.stderr());
    }
  });
});
