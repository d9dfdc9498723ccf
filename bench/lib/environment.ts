// What the benchmark runs against: a Kafka broker (started through scripts/kafka.sh when
// none answers, and stopped again), the machine's PostgreSQL, fresh names per scenario,
// and configuration files for the sync process.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('../..', import.meta.url));

function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

export interface BenchEnvironment {
  readonly brokers: string;
  readonly postgresUrl: string;
  close(): void;
}

export async function prepareEnvironment(log: (line: string) => void): Promise<BenchEnvironment> {
  const port = Number(process.env.KAFKA_PORT ?? 9092);
  let started = false;
  let brokers = process.env.ECS_BENCH_KAFKA_BROKERS ?? '';
  if (!brokers) {
    if (!(await accepts(port))) {
      log(`bench: starting a Kafka broker on 127.0.0.1:${port} (scripts/kafka.sh)`);
      const r = spawnSync(join(root, 'scripts/kafka.sh'), ['start'], { stdio: 'inherit', env: { ...process.env, KAFKA_PORT: String(port) } });
      if (r.status !== 0) throw new Error('could not start Kafka with scripts/kafka.sh');
      started = true;
    }
    brokers = `127.0.0.1:${port}`;
  }
  const postgresUrl = process.env.ECS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: postgresUrl });
  try {
    await client.connect();
    await client.end();
  } catch (err) {
    throw new Error(`PostgreSQL at ${postgresUrl.replace(/:[^:@/]*@/, ':***@')} does not answer (${(err as Error).message}); set ECS_BENCH_PG_URL`);
  }
  return {
    brokers, postgresUrl,
    close: () => {
      if (started) spawnSync(join(root, 'scripts/kafka.sh'), ['stop'], { stdio: 'inherit', env: { ...process.env, KAFKA_PORT: String(port) } });
    },
  };
}

export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;

export interface SyncConfigOptions {
  ewsUrl: string;
  mode: 'EwsStream' | 'EwsPull' | 'GraphNotify' | 'GraphDelta';
  /** Graph modes: the sandbox's Graph endpoint (the app's secret in ECS_BENCH_GRAPH_SECRET) and the poll intervals. */
  graph?: { url: string; authority: string; tenant: string; clientId: string; caFile: string; pollInterval: string; safetyPoll: string };
  pullInterval: string;
  env: BenchEnvironment;
  crmSchema: string;
  stateSchema: string;
  topicPrefix: string;
}

/** A configuration file for the sync process (the password reaches it through ECS_BENCH_EWS_PASSWORD). */
export function writeSyncConfig(o: SyncConfigOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'ecs-bench-'));
  const file = join(dir, 'bench.config.xml');
  writeFileSync(file, `<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <calendar_sync>
    <exchange>
      <events>
        <advise Object="${o.mode}"/>
        <pull interval="${o.pullInterval}" concurrency="32"/>
        <stream maxSubscriptionsPerConnection="200"/>
      </events>
      ${o.graph
    ? `<graph url="${o.graph.url}" authority="${o.graph.authority}" tenant="${o.graph.tenant}" clientId="${o.graph.clientId}" clientSecretEnv="ECS_BENCH_GRAPH_SECRET" caFile="${o.graph.caFile}" pollInterval="${o.graph.pollInterval}" safetyPoll="${o.graph.safetyPoll}"/>`
    : `<ews url="${o.ewsUrl}" user="svc-sync@contoso.test" passwordEnv="ECS_BENCH_EWS_PASSWORD" impersonation="true"/>`}
      <mailboxes source="crm" refresh="3600s"/>
    </exchange>
    <crm type="postgres" url="${o.env.postgresUrl}" schema="${o.crmSchema}" stateSchema="${o.stateSchema}" pollInterval="1s"/>
    <transport type="kafka" brokers="${o.env.brokers}" topicPrefix="${o.topicPrefix}" partitions="12"/>
    <ops listen="127.0.0.1:0" logLevel="warn"/>
  </calendar_sync>
</configuration>
`);
  return file;
}
