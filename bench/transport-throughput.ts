// Throughput of each transport on this machine: publish N change-envelope-sized messages in
// batches of 100 and consume them in one group, and the same through raw kafkajs, in one run.
//   node --import tsx bench/transport-throughput.ts [--messages 20000] [--brokers 127.0.0.1:9092]
import { Kafka, logLevel } from 'kafkajs';
import { silentLogger } from '../src/shared/logger.js';
import { PgliteDatabase } from '../src/state/index.js';
import { EmbeddedTransport } from '../src/streams/transport/embedded-transport.js';
import { KafkaTransport } from '../src/streams/transport/kafka-transport.js';
import type { Transport } from '../src/streams/transport/transport.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const N = Number(arg('messages', '20000'));
const brokers = arg('brokers', process.env.ECS_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const value = JSON.stringify({ specversion: '1.0', v: 1, id: 'x'.repeat(32), source: 'exchange:user0001@contoso.test', type: 'appointment', op: 'u', time: new Date().toISOString(), after: { subject: 'Quarterly review #3', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z', location: 'Room 101', itemId: 'A'.repeat(150), version: 'CQAAABYAAAA=' } });
const messages = Array.from({ length: N }, (_, i) => ({ key: `user${String(i % 1000).padStart(4, '0')}@contoso.test`, value, headers: { 'ecs-id': String(i) } }));

async function measure(name: string, transport: Transport): Promise<{ name: string; publishPerSecond: number; consumePerSecond: number }> {
  const topic = `bench-${name}-${Date.now()}`;
  await transport.ensureTopics([topic]);
  let t = Date.now();
  for (let i = 0; i < N; i += 100) await transport.publish(topic, messages.slice(i, i + 100));
  const publishMs = Date.now() - t;
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  t = Date.now();
  const consumer = await transport.consume({ groupId: `bench-${Date.now()}`, topics: [topic], concurrency: 4, handle: async () => void (++n === N && done()) });
  await all;
  const consumeMs = Date.now() - t;
  await consumer.stop();
  return { name, publishPerSecond: Math.round((N / publishMs) * 1000), consumePerSecond: Math.round((N / consumeMs) * 1000) };
}

async function raw(): Promise<{ name: string; publishPerSecond: number; consumePerSecond: number }> {
  const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-raw-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  let t = Date.now();
  for (let i = 0; i < N; i += 100) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 100) });
  const publishMs = Date.now() - t;
  const consumer = kafka.consumer({ groupId: `bench-raw-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  t = Date.now();
  await consumer.run({ eachMessage: async () => void (++n === N && done()) });
  await all;
  const consumeMs = Date.now() - t;
  await consumer.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  return { name: 'raw kafkajs', publishPerSecond: Math.round((N / publishMs) * 1000), consumePerSecond: Math.round((N / consumeMs) * 1000) };
}

const db = await PgliteDatabase.open(null);
const results = [
  await measure('embedded', await EmbeddedTransport.open(db, 'log', 4, silentLogger())),
  await measure('kafka', new KafkaTransport({ type: 'kafka', brokers, topicPrefix: '', partitions: 4, replicationFactor: 1, clientId: 'bench', ssl: false, tlsVerify: true, sasl: null, path: '' }, silentLogger())),
  await raw(),
];
console.table(results);
console.log(JSON.stringify({ messages: N, results }));
process.exit(0);
