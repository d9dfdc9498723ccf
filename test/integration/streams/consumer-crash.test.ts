import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../../src/shared/logger.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import { kafkaBrokers, uniqueName } from '../../helpers/services.js';
import { waitUntil } from '../../helpers/source-harness.js';

const script = fileURLToPath(new URL('../../fixtures/processes/consume-and-record.ts', import.meta.url));
const handled = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

function startConsumer(topic: string, group: string, file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, kafkaBrokers().join(','), topic, group, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('consuming') && resolve(child));
    child.once('exit', (code) => reject(new Error(`consumer exited with ${code}`)));
  });
}

describe('crash: SIGKILL between handling and offset commit', () => {
  it('after restarts every message was handled at least once, none skipped', async () => {
    const transport = new KafkaTransport({ type: 'kafka', brokers: kafkaBrokers(), topicPrefix: '', partitions: 4, replicationFactor: 1, clientId: 'ecs-crash-producer', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' }, silentLogger());
    const topic = uniqueName('consumer-crash');
    const group = uniqueName('exchange-crm-sync.to-crm');
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-consumer-crash-')), 'handled.txt');
    const total = 3_000;
    let child: ChildProcess | undefined;
    try {
      await transport.ensureTopics([topic]);
      for (let i = 0; i < total; i += 250) await transport.publish(topic, Array.from({ length: 250 }, (_, j) => ({ key: `m${(i + j) % 50}`, value: String(i + j), headers: {} })));
      for (let kill = 0; kill < 3; kill++) {
        child = await startConsumer(topic, group, file);
        const before = handled(file).length;
        await waitUntil(() => handled(file).length >= before + 300, 60_000, 'progress before the kill');
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      child = await startConsumer(topic, group, file);
      await waitUntil(() => new Set(handled(file)).size === total, 90_000, 'every message handled');
      const lines = handled(file);
      assert.equal(new Set(lines).size, total, 'none missing');
      assert.ok(lines.length >= total, `repeats are allowed (${lines.length - total} repeated)`);
      const lag = (await transport.lag(group, [topic])).reduce((n, p) => n + p.lag, 0);
      assert.ok(lag <= 250, `offsets were committed as messages were handled (lag ${lag})`);
    } finally {
      child?.kill('SIGKILL');
      await transport.close();
    }
  });
});
