import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../src/shared/logger.js';
import { LagMonitor } from '../../../src/streams/lag-monitor.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import { repoRoot } from '../../helpers/cli.js';
import { kafkaBrokers, uniqueName } from '../../helpers/services.js';
import { waitUntil } from '../../helpers/source-harness.js';

function kafkaToolLag(group: string): number {
  const r = spawnSync(join(repoRoot, 'scripts/kafka.sh'), ['tool', 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', kafkaBrokers()[0], '--describe', '--group', group],
    { encoding: 'utf8', env: { ...process.env, KAFKA_PORT: kafkaBrokers()[0].split(':')[1] } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.startsWith(group)).reduce((n, l) => n + Number(l.trim().split(/\s+/)[5] ?? 0), 0);
}

async function metricLag(registry: Registry, group: string, topic: string): Promise<number> {
  const text = await registry.metrics();
  const m = new RegExp(`^kafka_consumergroup_lag_sum\\{consumergroup="${group}",topic="${topic}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : -1;
}

describe('consumer lag', () => {
  it('the lag metric and Kafka\'s own kafka-consumer-groups both show 1,000 with the consumer stopped, and 0 after it caught up', async () => {
    const transport = new KafkaTransport({ type: 'kafka', brokers: kafkaBrokers(), topicPrefix: '', partitions: 4, replicationFactor: 1, clientId: 'ecs-lag', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' }, silentLogger());
    const topic = uniqueName('lag');
    const group = uniqueName('exchange-crm-sync.to-crm');
    const registry = new Registry();
    const monitor = new LagMonitor(transport, [{ groupId: group, topics: [topic] }], registry, silentLogger());
    try {
      await transport.ensureTopics([topic]);
      await transport.publish(topic, Array.from({ length: 8 }, (_, i) => ({ key: `m${i}`, value: '{}', headers: {} })));
      let handled = 0;
      let consumer = await transport.consume({ groupId: group, topics: [topic], concurrency: 4, handle: async () => void handled++ });
      await waitUntil(() => handled === 8, 30_000, 'the first messages');
      await consumer.stop();
      for (let i = 0; i < 1_000; i += 200) await transport.publish(topic, Array.from({ length: 200 }, (_, j) => ({ key: `mailbox-${(i + j) % 37}`, value: '{}', headers: {} })));
      assert.equal(await metricLag(registry, group, topic), 1_000);
      assert.equal(kafkaToolLag(group), 1_000);
      const perPartition = (await registry.metrics()).match(new RegExp(`^kafka_consumergroup_lag\\{consumergroup="${group}",topic="${topic}",partition="\\d"\\} \\d+`, 'gm')) ?? [];
      assert.equal(perPartition.length, 4);
      consumer = await transport.consume({ groupId: group, topics: [topic], concurrency: 4, handle: async () => void handled++ });
      await waitUntil(() => handled === 1_008, 30_000, 'catching up');
      await consumer.stop();
      await new Promise((r) => setTimeout(r, 1_100)); // the monitor caches for a second
      assert.equal(await metricLag(registry, group, topic), 0);
      assert.equal(kafkaToolLag(group), 0);
      assert.equal(await monitor.total(group), 0);
    } finally {
      await transport.close();
    }
  });
});
