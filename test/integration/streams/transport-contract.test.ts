import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TransportSettings } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase, PgliteDatabase, type Database } from '../../../src/state/index.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import type { IncomingMessage, Transport } from '../../../src/streams/transport/transport.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';

const PARTITIONS = 3;
const settings = (brokers: string[]): TransportSettings => ({
  type: 'kafka', brokers, topicPrefix: 'test.', partitions: PARTITIONS, replicationFactor: 1, clientId: 'ecs-contract', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '',
});

interface Adapter {
  name: string;
  open(): Promise<{ transport: Transport; cleanup(): Promise<void> }>;
}

const adapters: Adapter[] = [
  {
    name: 'kafka (real broker)',
    async open() {
      const transport = new KafkaTransport(settings(kafkaBrokers()), silentLogger());
      return { transport, cleanup: () => transport.close() };
    },
  },
  {
    name: 'embedded (PGlite)',
    async open() {
      const db = await PgliteDatabase.open(null);
      const transport = await EmbeddedTransport.open(db, 'ecs_state', PARTITIONS, silentLogger());
      return { transport, cleanup: async () => { await transport.close(); await db.close(); } };
    },
  },
  {
    name: 'embedded (PostgreSQL server)',
    async open() {
      const schema = uniqueName('ecs_log');
      const db: Database = new PgDatabase(postgresUrl());
      const transport = await EmbeddedTransport.open(db, schema, PARTITIONS, silentLogger());
      return { transport, cleanup: async () => { await transport.close(); await db.query(`drop schema ${schema} cascade`); await db.close(); } };
    },
  },
];

async function collect(transport: Transport, groupId: string, topic: string, until: (seen: IncomingMessage[]) => boolean, handle?: (m: IncomingMessage) => Promise<void>): Promise<IncomingMessage[]> {
  const seen: IncomingMessage[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const consumer = await transport.consume({
    groupId, topics: [topic], concurrency: PARTITIONS,
    handle: async (m) => {
      await handle?.(m);
      seen.push(m);
      if (until(seen)) resolveDone();
    },
  });
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${seen.length} messages arrived`)), 30_000))]);
  await consumer.stop();
  return seen;
}

for (const adapter of adapters) {
  describe(`Transport contract: ${adapter.name}`, () => {
    const opened: Array<() => Promise<void>> = [];
    after(async () => {
      for (const c of opened) await c();
    });
    const open = async (): Promise<Transport> => {
      const { transport, cleanup } = await adapter.open();
      opened.push(cleanup);
      return transport;
    };

    it('creates topics idempotently, delivers everything with headers, in order per key', async () => {
      const transport = await open();
      const topic = uniqueName('contract-order');
      await transport.ensureTopics([topic]);
      await transport.ensureTopics([topic]);
      const sent = Array.from({ length: 60 }, (_, i) => ({ key: `mailbox-${i % 7}`, value: JSON.stringify({ i }), headers: { 'ecs-id': `id-${i}`, 'ecs-type': 'appointment' } }));
      for (let i = 0; i < sent.length; i += 20) await transport.publish(topic, sent.slice(i, i + 20));
      const seen = await collect(transport, uniqueName('g'), topic, (s) => s.length >= 60);
      assert.equal(seen.length, 60);
      assert.deepEqual(seen.map((m) => JSON.parse(m.value).i).sort((a: number, b: number) => a - b), sent.map((_, i) => i));
      for (let k = 0; k < 7; k++) {
        const forKey = seen.filter((m) => m.key === `mailbox-${k}`);
        assert.deepEqual(forKey.map((m) => JSON.parse(m.value).i), [...forKey.map((m) => JSON.parse(m.value).i)].sort((a: number, b: number) => a - b), `order of key ${k}`);
        assert.equal(new Set(forKey.map((m) => m.partition)).size, 1, 'one key, one partition');
      }
      assert.equal(seen.find((m) => JSON.parse(m.value).i === 5)!.headers['ecs-id'], 'id-5');
    });

    it('commits only what was handled: a restarted consumer goes on after it, and lag says what is left', async () => {
      const transport = await open();
      const topic = uniqueName('contract-commit');
      const group = uniqueName('g');
      await transport.ensureTopics([topic]);
      await transport.publish(topic, Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 3}`, value: String(i), headers: {} })));
      const lagBefore = await transport.lag(group, [topic]);
      assert.equal(lagBefore.reduce((n, p) => n + p.lag, 0), 30, 'nothing committed: everything is lag');
      const first = await collect(transport, group, topic, (s) => s.length >= 30);
      assert.equal(first.length, 30);
      await waitForLag(transport, group, topic, 0);
      await transport.publish(topic, Array.from({ length: 9 }, (_, i) => ({ key: `k${i % 3}`, value: String(100 + i), headers: {} })));
      await waitForLag(transport, group, topic, 9);
      const second = await collect(transport, group, topic, (s) => s.length >= 9);
      assert.deepEqual(second.map((m) => Number(m.value)).sort((a, b) => a - b), Array.from({ length: 9 }, (_, i) => 100 + i), 'only the new messages');
      await waitForLag(transport, group, topic, 0);
    });

    it('a failing handler gets the same message again — never skipped — and then the rest', async () => {
      const transport = await open();
      const topic = uniqueName('contract-retry');
      await transport.ensureTopics([topic]);
      await transport.publish(topic, [0, 1, 2].map((i) => ({ key: 'one-key', value: String(i), headers: {} })));
      let failures = 0;
      const seen = await collect(transport, uniqueName('g'), topic, (s) => s.length >= 3, async (m) => {
        if (m.value === '1' && failures < 2) {
          failures++;
          throw new Error('CRM unavailable');
        }
      });
      assert.equal(failures, 2);
      assert.deepEqual(seen.map((m) => m.value), ['0', '1', '2']);
    });

    it('consumer groups are independent', async () => {
      const transport = await open();
      const topic = uniqueName('contract-groups');
      await transport.ensureTopics([topic]);
      await transport.publish(topic, [{ key: 'a', value: 'x', headers: {} }]);
      const a = await collect(transport, uniqueName('ga'), topic, (s) => s.length >= 1);
      const b = await collect(transport, uniqueName('gb'), topic, (s) => s.length >= 1);
      assert.equal(a[0].value, 'x');
      assert.equal(b[0].value, 'x');
    });
  });
}

async function waitForLag(transport: Transport, group: string, topic: string, expected: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lag = (await transport.lag(group, [topic])).reduce((n, p) => n + p.lag, 0);
    if (lag === expected) return;
    if (Date.now() > deadline) assert.equal(lag, expected, 'lag');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Kafka: key order within a partition (orderedBy "key", as the handlers consume)', () => {
  it('a slow key does not hold up another key of its partition; each key in order; the offset moves only over what is handled', async () => {
    const transport = new KafkaTransport({ ...settings(kafkaBrokers()), partitions: 1 }, silentLogger());
    try {
      const topic = uniqueName('contract-key-order');
      const group = uniqueName('g');
      await transport.ensureTopics([topic]);
      await transport.publish(topic, ['A0', 'B0', 'B1', 'A1', 'B2'].map((v) => ({ key: v[0], value: v, headers: {} })));
      let releaseA!: () => void;
      const slowA = new Promise<void>((r) => (releaseA = r));
      const seen: string[] = [];
      const consumer = await transport.consume({
        groupId: group, topics: [topic], concurrency: 4, orderedBy: 'key',
        handle: async (m) => {
          if (m.value === 'A0') await slowA;
          seen.push(m.value);
        },
      });
      try {
        const until = async (what: string, ok: () => boolean): Promise<void> => {
          const deadline = Date.now() + 20_000;
          while (!ok()) {
            if (Date.now() > deadline) assert.fail(`${what}: saw ${seen.join(',')}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        await until('B\'s messages while A0 is slow', () => seen.length === 3);
        assert.deepEqual(seen, ['B0', 'B1', 'B2'], 'B in order, A1 waits for A0');
        await new Promise((r) => setTimeout(r, 600)); // past the commit interval
        await waitForLag(transport, group, topic, 5); // A0 (offset 0) is not handled: nothing may be committed
        releaseA();
        await until('A\'s messages', () => seen.length === 5);
        assert.deepEqual(seen.slice(3), ['A0', 'A1']);
        await waitForLag(transport, group, topic, 0);
      } finally {
        await consumer.stop();
      }
    } finally {
      await transport.close();
    }
  });
});
