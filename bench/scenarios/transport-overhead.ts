// Scenario 3: how close the pipeline gets to the limit of this machine's broker. The same
// change envelopes are (a) produced and consumed with raw kafkajs, and (b) published through
// our Kafka transport and applied by runHandler (parse + validate the envelope, commit
// offsets in order per key) with a handler that does nothing — the pipeline minus EWS and
// the CRM. Each figure is messages per second from the first publish to the last handled.
import { Kafka, logLevel } from 'kafkajs';
import { runHandler } from '../../src/handlers/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { envelopeId, parseEnvelope, type ChangeEnvelope } from '../../src/streams/index.js';
import { KafkaTransport } from '../../src/streams/transport/kafka-transport.js';
import { uniqueName, type BenchEnvironment } from '../lib/environment.js';
import { median } from '../lib/latency.js';

export interface TransportOverheadParams {
  messages: number;
  runs: number;
}

interface Throughput {
  publishPerSecond: number;
  consumePerSecond: number;
  endToEndPerSecond: number;
}

export interface TransportOverheadResult {
  params: TransportOverheadParams;
  runs: Array<{ raw: Throughput; pipeline: Throughput }>;
  median: { raw: Throughput; pipeline: Throughput; ratio: number };
}

function envelopes(n: number): Array<{ key: string; value: string; headers: Record<string, string> }> {
  const list = makeEnvelopes(n);
  parseEnvelope(list[0].value); // a pipeline that dead-letters everything would never finish
  return list;
}

function makeEnvelopes(n: number): Array<{ key: string; value: string; headers: Record<string, string> }> {
  return Array.from({ length: n }, (_, i) => {
    const mailbox = `user${String(i % 1000).padStart(4, '0')}@contoso.test`;
    const itemId = `AAMkI${Buffer.from(`${mailbox}:${i}`).toString('base64')}`;
    const e: ChangeEnvelope = {
      specversion: '1.0', v: 2, id: envelopeId(`exchange:${mailbox}`, itemId, String(i), 'u'), source: `exchange:${mailbox}`, type: 'appointment', op: 'u',
      time: new Date().toISOString(), position: { kind: 'ews-syncstate', value: 'H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee+', scope: `${mailbox}:calendar` },
      subject: itemId, before: null,
      after: { subject: `Quarterly review #${i}`, start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z', timeZone: 'Europe/Berlin', location: 'Room 101', version: 'CQAAABYAAAA=' },
      origin: 'exchange', detectedAt: Date.now(),
    };
    return { key: mailbox, value: JSON.stringify(e), headers: {} };
  });
}

const perSecond = (n: number, ms: number): number => Math.round((n / Math.max(1, ms)) * 1000);

async function raw(brokers: string[], messages: Array<{ key: string; value: string }>): Promise<Throughput> {
  const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueName('bench-raw');
  await admin.createTopics({ topics: [{ topic, numPartitions: 12, replicationFactor: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: uniqueName('bench-raw') });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const t0 = Date.now();
  for (let i = 0; i < messages.length; i += 100) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 100) });
  const published = Date.now();
  await consumer.run({ eachMessage: async () => void (++n === messages.length && done()) });
  await all;
  const t1 = Date.now();
  await consumer.disconnect();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return { publishPerSecond: perSecond(messages.length, published - t0), consumePerSecond: perSecond(messages.length, t1 - published), endToEndPerSecond: perSecond(messages.length, t1 - t0) };
}

async function pipeline(brokers: string[], messages: Array<{ key: string; value: string; headers: Record<string, string> }>): Promise<Throughput> {
  const transport = new KafkaTransport({ type: 'kafka', brokers, topicPrefix: '', partitions: 12, replicationFactor: 1, clientId: 'bench-pipeline', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' }, silentLogger());
  const topic = uniqueName('bench-pipeline');
  await transport.ensureTopics([topic, `${topic}.dlq`]);
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const t0 = Date.now();
  for (let i = 0; i < messages.length; i += 100) await transport.publish(topic, messages.slice(i, i + 100));
  const published = Date.now();
  const consumer = await runHandler({
    transport, groupId: uniqueName('bench-pipeline'), topic, dlqTopic: `${topic}.dlq`, concurrency: 16, direction: 'to-crm', logger: silentLogger(),
    handle: async () => {
      if (++n === messages.length) done();
      return 'unchanged';
    },
  });
  await all;
  const t1 = Date.now();
  await consumer.stop();
  await transport.close();
  return { publishPerSecond: perSecond(messages.length, published - t0), consumePerSecond: perSecond(messages.length, t1 - published), endToEndPerSecond: perSecond(messages.length, t1 - t0) };
}

export async function transportOverhead(params: TransportOverheadParams, env: BenchEnvironment, log: (line: string) => void): Promise<TransportOverheadResult> {
  const brokers = env.brokers.split(',');
  const messages = envelopes(params.messages);
  const runs: TransportOverheadResult['runs'] = [];
  for (let r = 0; r < params.runs; r++) {
    // alternate the order, so neither side always runs on a warmer broker
    const first = r % 2 === 0 ? await raw(brokers, messages) : await pipeline(brokers, messages);
    const second = r % 2 === 0 ? await pipeline(brokers, messages) : await raw(brokers, messages);
    runs.push(r % 2 === 0 ? { raw: first, pipeline: second } : { raw: second, pipeline: first });
    log(`  run ${r + 1}: raw ${runs[r].raw.endToEndPerSecond}/s, pipeline ${runs[r].pipeline.endToEndPerSecond}/s`);
  }
  const med = (pick: (t: { raw: Throughput; pipeline: Throughput }) => Throughput, key: keyof Throughput): number => median(runs.map((x) => pick(x)[key]));
  const of = (pick: (t: { raw: Throughput; pipeline: Throughput }) => Throughput): Throughput => ({
    publishPerSecond: med(pick, 'publishPerSecond'), consumePerSecond: med(pick, 'consumePerSecond'), endToEndPerSecond: med(pick, 'endToEndPerSecond'),
  });
  const rawMedian = of((x) => x.raw);
  const pipelineMedian = of((x) => x.pipeline);
  return { params, runs, median: { raw: rawMedian, pipeline: pipelineMedian, ratio: Math.round((median(runs.map((x) => x.pipeline.endToEndPerSecond / x.raw.endToEndPerSecond)) * 100)) / 100 } };
}
