import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initReferenceCrm, ReferenceCrm } from '../../../src/crm-adapter/index.js';
import { createLogger, silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase, SqlPositionStore } from '../../../src/state/index.js';
import { CrmToLog } from '../../../src/streams/crm-to-log.js';
import { parseEnvelope, type ChangeEnvelope } from '../../../src/streams/envelope.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import { postgresUrl, kafkaBrokers, uniqueName } from '../../helpers/services.js';
import { waitUntil } from '../../helpers/source-harness.js';

const kafkaTransport = (partitions: number): KafkaTransport =>
  new KafkaTransport({ type: 'kafka', brokers: kafkaBrokers(), topicPrefix: '', partitions, replicationFactor: 1, clientId: 'ecs-test', ssl: false, tlsVerify: true, sasl: null, compression: 'none', path: '' }, silentLogger());

describe('CRM → log (PostgreSQL change log → Kafka)', () => {
  it('publishes users\' appointment and task changes keyed by associate, skips the sync\'s own, saves the position after the log has them', async () => {
    const db = new PgDatabase(postgresUrl());
    const schema = uniqueName('crm');
    const state = uniqueName('state');
    const topic = uniqueName('crm.changes');
    const transport = kafkaTransport(3);
    await initReferenceCrm(db, schema);
    const positions = await SqlPositionStore.open(db, state);
    await transport.ensureTopics([topic]);
    const received: Array<{ key: string; e: ChangeEnvelope }> = [];
    const consumer = await transport.consume({ groupId: uniqueName('g'), topics: [topic], concurrency: 3, handle: async (m) => void received.push({ key: m.key, e: parseEnvelope(m.value) }) });
    let poller = new CrmToLog({ crm: new ReferenceCrm(db, schema), positions, transport, topic, logger: createLogger({ level: 'warn' }), pollIntervalMs: 60_000 });
    try {
      await poller.start();
      await db.query(`insert into ${schema}.associate (name, email) values ('Ann', 'ann@contoso.test'), ('Bob', 'bob@contoso.test')`);
      await db.query(`insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone, recurrence_rule) values
        (1, 1, 'Review', '2026-12-01T09:00:00Z', '2026-12-01T10:00:00Z', 'Europe/Berlin', E'RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4\\nEXDATE:20261208T090000Z'),
        (2, 2, 'Call back', '2026-12-02T00:00:00Z', '2026-12-02T00:00:00Z', null, null)`);
      await db.query(`update ${schema}.appointment set title = 'Review (moved)' where appointment_id = 1`);
      await db.transaction(async (tx) => {
        await tx.query(`select set_config('ecs.origin', 'sync', true)`);
        await tx.query(`update ${schema}.appointment set location = 'written by the sync' where appointment_id = 2`);
      });
      await db.query(`delete from ${schema}.appointment where appointment_id = 2`);
      // the poll interval is a minute: only the NOTIFY wake-up can deliver these in time
      await waitUntil(() => received.length >= 4, 15_000, 'four envelopes');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(received.map((r) => `${r.e.subject}:${r.e.op}`).sort(), ['appointment:1:c', 'appointment:1:u', 'appointment:2:c', 'appointment:2:d'].sort());
      const moved = received.find((r) => r.e.op === 'u')!;
      assert.equal(moved.key, 'ann@contoso.test');
      assert.equal(moved.e.after!.subject, 'Review (moved)');
      assert.equal(moved.e.after!.timeZone, 'Europe/Berlin');
      assert.deepEqual(moved.e.after!.recurrence, { rrule: 'FREQ=WEEKLY;BYDAY=TU;COUNT=4', exdates: ['2026-12-08T09:00:00Z'], exceptions: [] });
      assert.equal(moved.e.origin, 'crm');
      const deleted = received.find((r) => r.e.op === 'd')!;
      assert.equal(deleted.key, 'bob@contoso.test', 'a delete is still routed to its owner');
      assert.equal(deleted.e.after, null);
      assert.equal(received.find((r) => r.e.subject === 'appointment:2' && r.e.op === 'c')!.e.type, 'task');
      const saved = Number(await positions.get(`crm:${schema}:change_log`));
      assert.ok(saved >= 7, `position saved (${saved})`);
      // a restarted poller goes on from the saved position: nothing again
      await poller.stop();
      poller = new CrmToLog({ crm: new ReferenceCrm(db, schema), positions, transport, topic, logger: silentLogger(), pollIntervalMs: 200 });
      await poller.start();
      await db.query(`insert into ${schema}.appointment (associate_id, type, title) values (1, 1, 'After restart')`);
      await waitUntil(() => received.length >= 5, 15_000, 'the new change');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(received.length, 5);
    } finally {
      await poller.stop();
      await consumer.stop();
      await transport.close();
      await db.query(`drop schema ${schema} cascade; drop schema ${state} cascade`);
      await db.close();
    }
  });

  it('a row no envelope can carry is parked in the dead-letter topic with why, and the rows after it still flow', async () => {
    const db = new PgDatabase(postgresUrl());
    const schema = uniqueName('crm');
    const state = uniqueName('state');
    const topic = uniqueName('crm.changes');
    const transport = kafkaTransport(1);
    await initReferenceCrm(db, schema);
    const positions = await SqlPositionStore.open(db, state);
    await transport.ensureTopics([topic, `${topic}.dlq`]);
    const poller = new CrmToLog({ crm: new ReferenceCrm(db, schema), positions, transport, topic, dlqTopic: `${topic}.dlq`, logger: silentLogger(), pollIntervalMs: 200 });
    try {
      await poller.start();
      await db.query(`insert into ${schema}.associate (name, email) values ('Ann', 'ann@contoso.test')`);
      // a start in the year 10000 has no ISO 8601 form the envelope accepts
      await db.query(`insert into ${schema}.appointment (associate_id, type, title, start_at, end_at) values (1, 1, 'Far away', '10000-01-01T09:00:00Z', '10000-01-01T10:00:00Z'), (1, 1, 'Next week', '2026-12-01T09:00:00Z', '2026-12-01T10:00:00Z')`);
      let parked: Awaited<ReturnType<typeof transport.browse>> = [];
      let sent: Awaited<ReturnType<typeof transport.browse>> = [];
      await waitUntil(async () => {
        parked = await transport.browse(`${topic}.dlq`, 10);
        sent = await transport.browse(topic, 10);
        return parked.length === 1 && sent.length === 1;
      }, 15_000, 'one parked, one sent');
      assert.equal(parseEnvelope(sent[0].value).after!.subject, 'Next week');
      assert.equal(parked[0].headers['ecs-stage'], 'crm-read');
      assert.equal(parked[0].headers['ecs-error-code'], 'POISON_MESSAGE');
      assert.match(String(parked[0].headers['ecs-error-message']), /start/);
      assert.equal(JSON.parse(parked[0].value).record, 'appointment:1');
    } finally {
      await poller.stop();
      await transport.close();
      await db.query(`drop schema ${schema} cascade; drop schema ${state} cascade`);
      await db.close();
    }
  });
});
