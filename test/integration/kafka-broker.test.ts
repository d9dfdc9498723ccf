import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Admin, type EachMessagePayload } from 'kafkajs';
import { repoRoot } from '../helpers/cli.js';
import { kafkaBrokers, uniqueName } from '../helpers/services.js';

// Proves that the broker scripts/kafka.sh runs (Apache Kafka 3.9.x, KRaft) works with
// kafkajs 2.2 for everything the sync uses: topic creation, the idempotent producer with
// acks=all, consumer groups with explicit commits, offset admin, and Kafka's own tools.
describe('Kafka broker with kafkajs 2.2', () => {
  const kafka = new Kafka({ clientId: 'ecs-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  let admin: Admin;
  before(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    await admin.disconnect();
  });

  it('describes a KRaft cluster', async () => {
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
    assert.ok(cluster.controller !== null);
  });

  it('produces idempotently and consumes in a group with explicit commits; lag visible to kafka-consumer-groups', async () => {
    const topic = uniqueName('ecs-test-roundtrip');
    const groupId = uniqueName('ecs-test-group');
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true }), true);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `mailbox-${i % 5}`, value: JSON.stringify({ i }), headers: { 'ecs-id': `id-${i}` } }));
    const acks = await producer.send({ topic, acks: -1, messages: sent });
    assert.ok(acks.length > 0 && acks.every((a) => a.errorCode === 0));
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: EachMessagePayload[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async (payload) => {
            received.push(payload);
            const { partition, message } = payload;
            await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
            if (received.length === sent.length) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();

    assert.deepEqual(received.map((r) => JSON.parse(r.message.value!.toString()).i).sort((a, b) => a - b), sent.map((_, i) => i));
    // per key, order is kept (one key → one partition)
    for (let k = 0; k < 5; k++) {
      const forKey = received.filter((r) => r.message.key!.toString() === `mailbox-${k}`).map((r) => JSON.parse(r.message.value!.toString()).i);
      assert.deepEqual(forKey, [...forKey].sort((a, b) => a - b));
      assert.equal(new Set(received.filter((r) => r.message.key!.toString() === `mailbox-${k}`).map((r) => r.partition)).size, 1);
    }
    assert.equal(received[0].message.headers!['ecs-id']!.toString().startsWith('id-'), true);

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const latest = await admin.fetchTopicOffsets(topic);
    const lag = committed[0].partitions.reduce((sum, p) => {
      const end = latest.find((l) => l.partition === p.partition)!.high;
      return sum + Number(end) - Number(p.offset);
    }, 0);
    assert.equal(lag, 0);

    // Kafka's own tool, from the same jars, sees the group with no lag.
    const tool = spawnSync(join(repoRoot, 'scripts/kafka.sh'),
      ['tool', 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', kafkaBrokers()[0], '--describe', '--group', groupId],
      { encoding: 'utf8', env: { ...process.env, KAFKA_PORT: kafkaBrokers()[0].split(':')[1] } });
    assert.equal(tool.status, 0, tool.stderr);
    const rows = tool.stdout.split('\n').filter((l) => l.startsWith(groupId));
    assert.equal(rows.length, 3, tool.stdout);
    for (const row of rows) assert.equal(row.trim().split(/\s+/)[5], '0', row);

    await admin.deleteTopics({ topics: [topic] });
  });
});
