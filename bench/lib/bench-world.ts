// What every end-to-end scenario starts with: the sandbox in its own process with M demo
// mailboxes, a fresh reference CRM whose associates are those mailboxes, and a state schema.
import { initReferenceCrm, seedDemoAssociates } from '../../src/crm-adapter/index.js';
import type { LatencyProfile } from '../../src/sandbox/index.js';
import { PgDatabase } from '../../src/state/index.js';
import { uniqueName, type BenchEnvironment } from './environment.js';
import { startSandboxProcess } from './sandbox-process.js';

export interface BenchWorld {
  sandbox: Awaited<ReturnType<typeof startSandboxProcess>>;
  addresses: string[];
  db: PgDatabase;
  crmSchema: string;
  stateSchema: string;
  /** Stops the sandbox and drops the schemas. */
  close(): Promise<void>;
}

/** `latency`: how long the sandbox's EWS takes to answer (src/sandbox/latency-model.ts); the polling peers meet it too. */
export async function startBenchWorld(mailboxes: number, seed: number, env: BenchEnvironment, latency: LatencyProfile = 'none'): Promise<BenchWorld> {
  const sandbox = await startSandboxProcess(['--mailboxes', String(mailboxes), '--items-per-mailbox', '2', '--seed', String(seed), '--latency', latency]);
  const width = Math.max(4, String(mailboxes).length);
  const addresses = Array.from({ length: mailboxes }, (_, i) => `user${String(i + 1).padStart(width, '0')}@contoso.test`);
  const crmSchema = uniqueName('bench_crm');
  const stateSchema = uniqueName('bench_state');
  const db = new PgDatabase(env.postgresUrl);
  await initReferenceCrm(db, crmSchema);
  await seedDemoAssociates(db, crmSchema, addresses);
  return {
    sandbox, addresses, db, crmSchema, stateSchema,
    close: async () => {
      sandbox.child.kill('SIGINT');
      await db.query(`drop schema if exists ${crmSchema} cascade`).catch(() => undefined);
      await db.query(`drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    },
  };
}
