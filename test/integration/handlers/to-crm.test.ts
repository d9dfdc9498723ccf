import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { ItemMappingStore, runHandler, ToCrmHandler } from '../../../src/handlers/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { Limiter } from '../../../src/shared/limiter.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase, SqlPositionStore } from '../../../src/state/index.js';
import { ExchangeToLog } from '../../../src/streams/exchange-to-log.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { createSource, MutableDirectory, waitUntil } from '../../helpers/source-harness.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

describe('Exchange → CRM (to-crm handler)', () => {
  it('mailbox appointments and tasks become the associate\'s CRM rows, once each; a full replay changes nothing', async () => {
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    const sandbox = await startSandbox({ mailboxes: 8, itemsPerMailbox: 3, seed: 61, limits: { heartbeatMs: 500 } });
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
    await ItemMappingStore.migrate(db, stateSchema);
    const transport = await EmbeddedTransport.open(db, stateSchema, 4, silentLogger());
    await transport.ensureTopics(['exchange.changes', 'exchange.changes.dlq']);
    const positions = await SqlPositionStore.open(db, stateSchema);
    const { source, exchange } = createSource('stream', sandbox, positions as never, new MutableDirectory(sandbox.store.all().map((m) => m.address)), {}, { ack: false });
    const pipeline = new ExchangeToLog({ source, exchange, transport, topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', limiter: new Limiter(8), logger: silentLogger() });
    const handler = new ToCrmHandler({ crm: new ReferenceCrm(db, crmSchema), mappings: new ItemMappingStore(db, stateSchema), logger: silentLogger(), privateItems: 'sync' });
    const outcomes: string[] = [];
    const consumer = await runHandler({
      transport, groupId: 'to-crm', topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', concurrency: 4, direction: 'to-crm',
      handle: async (e, at) => {
        const o = await handler.handle(e, at);
        outcomes.push(o);
        return o;
      }, logger: silentLogger(),
    });
    const crmState = async (): Promise<string[]> => (await db.query<{ email: string; type: number; title: string }>(
      `select s.email, a.type, a.title from ${crmSchema}.appointment a join ${crmSchema}.associate s using (associate_id) order by 1, 2, 3`)).rows.map((r) => `${r.email}|${r.type}|${r.title}`);
    const mailboxState = (): string[] => sandbox.store.all().flatMap((m) => [...m.items.values()]
      .filter((i) => i.folder === 'calendar' || i.folder === 'tasks').map((i) => `${m.address}|${i.kind === 'Task' ? 2 : 1}|${String(i.props.Subject)}`)).sort();
    try {
      pipeline.start();
      source.start();
      await waitUntil(() => source.stats().initialSyncDone === 8, 30_000, 'initial sync');
      sandbox.activity.setRate(40);
      await new Promise((r) => setTimeout(r, 2_000));
      sandbox.activity.stop();
      let last: string[] = [];
      const deadline = Date.now() + 30_000;
      for (;;) {
        last = await crmState();
        if (JSON.stringify(last) === JSON.stringify(mailboxState())) break;
        if (Date.now() > deadline) assert.deepEqual(last, mailboxState(), 'the CRM matches the mailboxes');
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(outcomes.filter((o) => o === 'applied').length > 0);
      // replay everything through another group: idempotent, nothing changes
      const versions = (await db.query(`select appointment_id, updated_count from ${crmSchema}.appointment order by 1`)).rows;
      let replayed = 0;
      const total = (await transport.lag('to-crm-replay', ['exchange.changes'])).reduce((n, p) => n + p.lag, 0);
      const replay = await runHandler({
        transport, groupId: 'to-crm-replay', topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', concurrency: 4, direction: 'to-crm',
        handle: async (e, at) => {
          const o = await handler.handle(e, at);
          replayed++;
          return o;
        }, logger: silentLogger(),
      });
      await waitUntil(() => replayed >= total, 30_000, 'the replay');
      await replay.stop();
      assert.deepEqual((await db.query(`select appointment_id, updated_count from ${crmSchema}.appointment order by 1`)).rows, versions, 'a replay changes nothing');
      // the sync's own writes are marked and would not be sent back
      const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.change_log where table_name = 'appointment' and origin <> 'sync'`);
      assert.equal(rows[0].n, 0);
    } finally {
      await pipeline.stop();
      await source.stop();
      await consumer.stop();
      await exchange.close();
      await sandbox.close();
      await db.query(`drop schema ${crmSchema} cascade; drop schema ${stateSchema} cascade`);
      await db.close();
    }
  });
});
