import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { Limiter } from '../../../src/shared/limiter.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore, PgliteDatabase } from '../../../src/state/index.js';
import { parseEnvelope, type ChangeEnvelope } from '../../../src/streams/envelope.js';
import { ExchangeToLog } from '../../../src/streams/exchange-to-log.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import type { Transport } from '../../../src/streams/transport/transport.js';
import { createSource, MutableDirectory, outOfOrder, unsurfaced, waitUntil, type Seen } from '../../helpers/source-harness.js';
import { kafkaBrokers, uniqueName } from '../../helpers/services.js';
import { changeKeyOf, itemIdOf, parseChangeKey } from '../../../src/sandbox/ids.js';

async function transports(): Promise<Array<{ name: string; transport: Transport; close(): Promise<void> }>> {
  const db = await PgliteDatabase.open(null);
  const embedded = await EmbeddedTransport.open(db, 'log', 4, silentLogger());
  const kafka = new KafkaTransport({ type: 'kafka', brokers: kafkaBrokers(), topicPrefix: '', partitions: 4, replicationFactor: 1, clientId: 'ecs-test', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' }, silentLogger());
  return [
    { name: 'embedded', transport: embedded, close: async () => { await embedded.close(); await db.close(); } },
    { name: 'kafka', transport: kafka, close: () => kafka.close() },
  ];
}

describe('Exchange → log', async () => {
  for (const t of await transports()) {
    it(`(${t.name}) publishes every change as a valid envelope keyed by mailbox, in order per mailbox, and only then acks`, async () => {
      const sandbox = await startSandbox({ mailboxes: 40, itemsPerMailbox: 3, seed: 31, limits: { heartbeatMs: 500 } });
      const positions = new MemoryPositionStore();
      const { source, exchange } = createSource('stream', sandbox, positions, new MutableDirectory(sandbox.store.all().map((m) => m.address)), {}, { ack: false });
      const topic = uniqueName('exchange.changes');
      await t.transport.ensureTopics([topic, `${topic}.dlq`]);
      const pipeline = new ExchangeToLog({ source, exchange, transport: t.transport, topic, dlqTopic: `${topic}.dlq`, limiter: new Limiter(16), logger: silentLogger() });
      const envelopes: ChangeEnvelope[] = [];
      const keys: string[] = [];
      const consumer = await t.transport.consume({
        groupId: uniqueName('test'), topics: [topic], concurrency: 4,
        handle: async (m) => {
          const e = parseEnvelope(m.value); // validated against the JSON Schema
          assert.equal(m.key, e.source.slice('exchange:'.length), 'key = mailbox');
          assert.equal(m.headers['ecs-id'], e.id);
          envelopes.push(e);
          keys.push(m.key);
        },
      });
      try {
        pipeline.start();
        source.start();
        await waitUntil(() => source.stats().initialSyncDone === 40, 30_000, 'initial sync');
        const existing = sandbox.store.all().flatMap((m) => [...m.items.values()].filter((i) => i.folder === 'calendar' || i.folder === 'tasks').map((i) => itemIdOf(m.index, i.seq)));
        const start = sandbox.activity.journal.length;
        sandbox.activity.setRate(80);
        await new Promise((r) => setTimeout(r, 2_000));
        sandbox.activity.stop();
        const journal = sandbox.activity.journal.slice(start);
        const seen = (): Map<string, Seen[]> => {
          const m = new Map<string, Seen[]>();
          for (const e of envelopes) m.set(e.subject, [...(m.get(e.subject) ?? []), { op: e.op, version: e.after?.version ? parseChangeKey(e.after.version) ?? 0 : 0 }]);
          return m;
        };
        await waitUntil(() => unsurfaced(journal, seen()).length === 0, 30_000, 'every change in the log').catch((err: Error) => {
          throw new Error(`${err.message}: ${unsurfaced(journal, seen()).slice(0, 3).join('; ')}`);
        });
        assert.deepEqual(outOfOrder(seen()), [], 'versions never go backwards per item');
        // every item there before the activity arrived (as r from the initial sync, or a later op), with its data
        const subjects = new Set(envelopes.map((e) => e.subject));
        assert.deepEqual(existing.filter((id) => !subjects.has(id)), []);
        const initial = envelopes.filter((e) => e.op === 'r');
        assert.ok(initial.length > 0 && initial.every((e) => e.after?.subject !== undefined && e.after.itemId === e.subject));
        const appointment = envelopes.find((e) => e.type === 'appointment' && e.op !== 'd')!;
        assert.match(appointment.after!.start!, /Z$/);
        // positions were saved after the log had the changes
        await waitUntil(() => source.stats().outstandingSignals === 0, 10_000, 'all signals acked');
        assert.ok(positions.data.size >= 80, 'a SyncState per mailbox folder');
      } finally {
        await pipeline.stop();
        await source.stop();
        await consumer.stop();
        await exchange.close();
        await sandbox.close();
        await t.close();
      }
    });
  }

  it('a notification of a version the sync holds (its own write coming back) costs no GetItem and sends nothing on; any other version does', async () => {
    const sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 0, seed: 32, limits: { heartbeatMs: 500 } });
    const db = await PgliteDatabase.open(null);
    const transport = await EmbeddedTransport.open(db, 'log', 1, silentLogger());
    const positions = new MemoryPositionStore();
    const [mailbox] = sandbox.store.all();
    const { source, exchange } = createSource('stream', sandbox, positions, new MutableDirectory([mailbox.address]), {}, { ack: false });
    try {
      await transport.ensureTopics(['exchange.changes', 'exchange.changes.dlq']);
      // the versions "the sync wrote": filled in below as the test writes
      const held = new Map<string, string>();
      const asked: string[] = [];
      const pipeline = new ExchangeToLog({
        source, exchange, transport, topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', limiter: new Limiter(4), logger: silentLogger(), coalesceMs: 5,
        versionsHeld: async (_m, items) => {
          asked.push(...items.map((i) => i.itemId));
          return new Set(items.filter((i) => held.get(i.itemId) === i.changeKey).map((i) => i.itemId));
        },
      });
      pipeline.start();
      source.start();
      await waitUntil(() => source.stats().initialSyncDone === 1, 30_000, 'initial sync');
      const later = (h: number): string => new Date(Date.now() + h * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const make = (subject: string) => sandbox.store.createItem(mailbox, 'calendar', 'CalendarItem', { Subject: subject, Start: later(24), End: later(25), LegacyFreeBusyStatus: 'Busy', IsAllDayEvent: 'false' }, new Map());
      const gets = (): number => sandbox.stats.requestsByOperation.get('GetItem') ?? 0;
      const published = async (): Promise<string[]> => (await transport.browse('exchange.changes', 100)).map((m) => String(parseEnvelope(m.value).after?.subject ?? parseEnvelope(m.value).op));
      const before = gets();
      const ours = make('Written by the sync');
      held.set(itemIdOf(mailbox.index, ours.seq), changeKeyOf(ours.version));
      make('Made by the user');
      await waitUntil(async () => (await published()).includes('Made by the user') && asked.length >= 2 && source.stats().outstandingSignals === 0, 20_000, 'the user\'s item published, every signal acked');
      assert.deepEqual(await published(), ['Made by the user'], 'the sync\'s own version is not sent on');
      assert.equal(gets() - before, 1, 'one GetItem: the user\'s item only');
      await pipeline.stop();
    } finally {
      await source.stop();
      await exchange.close();
      await transport.close();
      await db.close();
      await sandbox.close();
    }
  });
});
