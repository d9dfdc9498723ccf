import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initReferenceCrm, seedDemoAssociates, SqlCrm } from '../../../src/crm-adapter/index.js';
import { ItemMappingStore, runHandler, ToCrmHandler, ToExchangeHandler } from '../../../src/handlers/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { Limiter } from '../../../src/shared/limiter.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase, SqlPositionStore } from '../../../src/state/index.js';
import { CrmToLog } from '../../../src/streams/crm-to-log.js';
import { ExchangeToLog } from '../../../src/streams/exchange-to-log.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { createSource, MutableDirectory, waitUntil } from '../../helpers/source-harness.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

describe('CRM → Exchange (to-exchange handler), both directions running', () => {
  it('a row inserted, updated and deleted in the CRM shows in the mailbox, with no echo back', async () => {
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    const sandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 1, seed: 71, limits: { heartbeatMs: 500 } });
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
    await ItemMappingStore.migrate(db, stateSchema);
    const transport = await EmbeddedTransport.open(db, stateSchema, 2, silentLogger());
    await transport.ensureTopics(['exchange.changes', 'exchange.changes.dlq', 'crm.changes', 'crm.changes.dlq']);
    const positions = await SqlPositionStore.open(db, stateSchema);
    const { source, exchange } = createSource('stream', sandbox, positions as never, new MutableDirectory(sandbox.store.all().map((m) => m.address)), {}, { ack: false });
    const toLog = new ExchangeToLog({ source, exchange, transport, topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', limiter: new Limiter(4), logger: silentLogger() });
    const crmToLog = new CrmToLog({ crm: new SqlCrm(db, crmSchema), positions, transport, topic: 'crm.changes', logger: silentLogger(), pollIntervalMs: 200 });
    const toCrm = new ToCrmHandler({ db, crmSchema, stateSchema, logger: silentLogger(), privateItems: 'sync' });
    const toExchange = new ToExchangeHandler({ db, stateSchema, exchange, logger: silentLogger(), privateItems: 'sync' });
    const consumers = [
      await runHandler({ transport, groupId: 'to-crm', topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', concurrency: 2, direction: 'to-crm', handle: (e, at) => toCrm.handle(e, at), logger: silentLogger() }),
      await runHandler({ transport, groupId: 'to-exchange', topic: 'crm.changes', dlqTopic: 'crm.changes.dlq', concurrency: 2, direction: 'to-exchange', handle: (e, at) => toExchange.handle(e, at.key), logger: silentLogger() }),
    ];
    const mailbox = sandbox.store.byIndex(2)!;
    const calendarSubjects = (): string[] => sandbox.store.itemsIn(mailbox, 'calendar').map((i) => String(i.props.Subject)).sort();
    try {
      toLog.start();
      source.start();
      await crmToLog.start();
      await waitUntil(() => source.stats().initialSyncDone === 3, 20_000, 'initial sync');
      const before = calendarSubjects();
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${crmSchema}.appointment (associate_id, type, title, location, start_at, end_at, time_zone) values (2, 1, 'Zebra & plan <Q1>', 'Room 7', '2026-12-03T09:00:00Z', '2026-12-03T10:00:00Z', 'Europe/Berlin') returning appointment_id`,
      );
      const id = rows[0].appointment_id;
      await waitUntil(() => calendarSubjects().includes('Zebra & plan <Q1>'), 15_000, 'the CRM row in the mailbox');
      const item = sandbox.store.itemsIn(mailbox, 'calendar').find((i) => i.props.Subject === 'Zebra & plan <Q1>')!;
      assert.equal(item.props.Location, 'Room 7');
      assert.equal(item.props.Start, '2026-12-03T09:00:00Z');
      assert.deepEqual([...item.extended.values()].map((v) => v.value), [`appointment:${id}`], 'stamped with the CRM id');
      await db.query(`update ${crmSchema}.appointment set title = 'Zebra (moved)' where appointment_id = $1`, [id]);
      await waitUntil(() => calendarSubjects().includes('Zebra (moved)'), 15_000, 'the update in the mailbox');
      // the item's own change comes back from Exchange: recognised, no second CRM row, no new user change
      await new Promise((r) => setTimeout(r, 1_500));
      const budgetRows = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment where title like 'Zebra%'`)).rows[0].n;
      assert.equal(budgetRows, 1, 'the item coming back from Exchange did not create a second CRM row');
      await db.query(`delete from ${crmSchema}.appointment where appointment_id = $1`, [id]);
      await waitUntil(() => JSON.stringify(calendarSubjects()) === JSON.stringify(before), 15_000, 'the delete in the mailbox');
      await new Promise((r) => setTimeout(r, 1_500));
      const userChanges = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.change_log where table_name = 'appointment' and record_id = $1 and origin = 'user'`, [id])).rows[0].n;
      assert.equal(userChanges, 3, 'only the three user changes; nothing echoed back as a user change');
      assert.equal((await transport.lag('to-exchange', ['crm.changes'])).reduce((n, p) => n + p.lag, 0), 0);
    } finally {
      for (const c of consumers) await c.stop();
      await crmToLog.stop();
      await toLog.stop();
      await source.stop();
      await exchange.close();
      await sandbox.close();
      await db.query(`drop schema ${crmSchema} cascade; drop schema ${stateSchema} cascade`);
      await db.close();
    }
  });
});
