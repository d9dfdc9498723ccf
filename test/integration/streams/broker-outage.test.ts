import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseChangeKey } from '../../../src/sandbox/ids.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { Limiter } from '../../../src/shared/limiter.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore } from '../../../src/state/index.js';
import { parseEnvelope } from '../../../src/streams/envelope.js';
import { ExchangeToLog } from '../../../src/streams/exchange-to-log.js';
import { KafkaTransport } from '../../../src/streams/transport/kafka-transport.js';
import { repoRoot } from '../../helpers/cli.js';
import { startServiceProcess, writeConfig } from '../../helpers/service-process.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';
import { createSource, MutableDirectory, unsurfaced, waitUntil, type Seen } from '../../helpers/source-harness.js';

async function freePortPair(): Promise<number> {
  const free = (port: number): Promise<boolean> => new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
  throw new Error('no two free ports in a row for the outage broker');
}

// A broker of its own (another port and folder), so stopping it disturbs no other test: two
// free ports in a row (the broker's and its controller's), not a fixed one something may hold.
const PORT = Number(process.env.ECS_TEST_OUTAGE_KAFKA_PORT ?? (await freePortPair()));
const dir = mkdtempSync(join(tmpdir(), 'ecs-kafka-outage-'));
const kafka = (command: string): void => {
  const r = spawnSync(join(repoRoot, 'scripts/kafka.sh'), [command], { encoding: 'utf8', env: { ...process.env, KAFKA_PORT: String(PORT), KAFKA_DIR: dir } });
  assert.equal(r.status, 0, `kafka.sh ${command}: ${r.stderr}`);
};

describe('broker outage mid-stream', () => {
  // one outage (a broker's start and stop cost a JVM each), seen from both sides: the
  // Exchange → log pipeline and a whole service's readiness
  it('the pipeline waits while the broker is down, recovers, and loses nothing; /readyz answers 503 with the reason meanwhile, and 200 again when it is back', async () => {
    kafka('start');
    const sandbox = await startSandbox({ mailboxes: 20, itemsPerMailbox: 2, seed: 51, limits: { heartbeatMs: 500 } });
    const settings = { type: 'kafka' as const, brokers: [`127.0.0.1:${PORT}`], topicPrefix: '', partitions: 2, replicationFactor: 1, clientId: 'ecs-outage', ssl: false, tlsVerify: true, sasl: null, compression: 'none' as const, path: '' };
    const transport = new KafkaTransport(settings, silentLogger());
    const { source, exchange } = createSource('stream', sandbox, new MemoryPositionStore(), new MutableDirectory(sandbox.store.all().map((m) => m.address)), {}, { ack: false });
    const pipeline = new ExchangeToLog({ source, exchange, transport, topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', limiter: new Limiter(8), logger: silentLogger() });
    // the service: its own sandbox and two mailboxes, the same broker
    const serviceSandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 1, seed: 52, limits: { heartbeatMs: 500 } });
    const { file } = writeConfig(`
      <exchange><events><advise Object="EwsStream"/></events>
        <ews url="${serviceSandbox.url}" user="${serviceSandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
        <mailboxes source="list"><mailbox>user0001@contoso.test</mailbox><mailbox>user0002@contoso.test</mailbox></mailboxes></exchange>
      <crm type="postgres" url="${postgresUrl()}" schema="${uniqueName('crm')}" stateSchema="${uniqueName('state')}"/>
      <transport type="kafka" brokers="127.0.0.1:${PORT}" topicPrefix="${uniqueName('ready')}." partitions="2"/>
      <ops listen="127.0.0.1:0"/>`);
    const service = await startServiceProcess(file, { ECS_TEST_EWS_PASSWORD: 'sandbox' });
    const readyz = async (): Promise<{ status: number; body: string }> => {
      const r = await fetch(`${service.opsUrl}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    try {
      await transport.ensureTopics(['exchange.changes', 'exchange.changes.dlq']);
      pipeline.start();
      source.start();
      await waitUntil(() => source.stats().initialSyncDone === 20, 30_000, 'initial sync');
      await waitUntil(async () => (await readyz()).status === 200, 60_000, '/readyz 200');
      const start = sandbox.activity.journal.length;
      sandbox.activity.setRate(30);
      await new Promise((r) => setTimeout(r, 1_000));
      kafka('stop');
      await new Promise((r) => setTimeout(r, 3_000));
      const whileDown = pipeline.published;
      await waitUntil(async () => (await readyz()).status === 503, 30_000, '/readyz 503 with the broker down');
      assert.match((await readyz()).body, /the kafka log is not reachable/);
      // the status page must answer during an outage (lag and DLQ figures are bounded reads)
      const status = (await (await fetch(`${service.opsUrl}/status`, { signal: AbortSignal.timeout(10_000) })).json()) as { ready: { ok: boolean } };
      assert.equal(status.ready.ok, false);
      assert.equal((await fetch(`${service.opsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).status, 200);
      assert.equal(pipeline.published, whileDown, 'nothing is published while the broker is down');
      assert.ok(source.stats().outstandingSignals > 0, 'and the positions wait');
      kafka('start');
      await new Promise((r) => setTimeout(r, 1_000));
      sandbox.activity.stop();
      const journal = sandbox.activity.journal.slice(start);
      const reader = new KafkaTransport({ ...settings, clientId: 'ecs-outage-check' }, silentLogger());
      const seen = new Map<string, Seen[]>();
      const consumer = await reader.consume({
        groupId: 'check', topics: ['exchange.changes'], concurrency: 2,
        handle: async (m) => {
          const e = parseEnvelope(m.value);
          seen.set(e.subject, [...(seen.get(e.subject) ?? []), { op: e.op, version: e.after?.version ? parseChangeKey(e.after.version) ?? 0 : 0 }]);
        },
      });
      try {
        await waitUntil(() => unsurfaced(journal, seen).length === 0, 90_000, 'every change after the outage').catch((err: Error) => {
          throw new Error(`${err.message}: ${unsurfaced(journal, seen).slice(0, 3).join('; ')}`);
        });
        await waitUntil(() => source.stats().outstandingSignals === 0, 30_000, 'all acked');
        await waitUntil(async () => (await readyz()).status === 200, 60_000, '/readyz 200 with the broker back');
      } finally {
        await consumer.stop();
        await reader.close();
      }
    } finally {
      await service.stop('SIGTERM');
      await pipeline.stop().catch(() => undefined);
      await source.stop();
      await exchange.close();
      await transport.close();
      await sandbox.close();
      await serviceSandbox.close();
      kafka('stop');
    }
  });
});
