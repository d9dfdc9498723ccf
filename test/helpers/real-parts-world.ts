// What a test of the running service on real parts starts with: the EWS sandbox in the test's
// process (so the test can act on it), a fresh reference CRM schema whose associates are its
// mailboxes, a state schema, and a configuration for Kafka and PostgreSQL.
import { initReferenceCrm, seedDemoAssociates } from '../../src/crm-adapter/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { PgDatabase } from '../../src/state/index.js';
import { kafkaBrokers, postgresUrl, uniqueName } from './services.js';
import { startServiceProcess, writeRealPartsConfig, type ServiceProcess } from './service-process.js';

export interface RealPartsWorld {
  readonly sandbox: Sandbox;
  readonly db: PgDatabase;
  readonly crmSchema: string;
  readonly stateSchema: string;
  /** The topics' prefix ("<name>_….") */
  readonly prefix: string;
  /** Starts the service on this world (again, after a stop). */
  start(): Promise<ServiceProcess>;
  /** Stops a service still running, the sandbox, and drops the schemas. */
  close(service?: ServiceProcess): Promise<void>;
}

export async function startRealPartsWorld(o: { name: string; mailboxes: number; itemsPerMailbox: number; seed: number; extra?: string }): Promise<RealPartsWorld> {
  const sandbox = await startSandbox({ mailboxes: o.mailboxes, itemsPerMailbox: o.itemsPerMailbox, seed: o.seed, limits: { heartbeatMs: 500 } });
  const db = new PgDatabase(postgresUrl());
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  const prefix = `${uniqueName(o.name)}.`;
  await initReferenceCrm(db, crmSchema);
  await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
  const { file } = writeRealPartsConfig({
    ewsUrl: sandbox.url, serviceAccount: sandbox.serviceAccount, postgresUrl: postgresUrl(), crmSchema, stateSchema, brokers: kafkaBrokers(), topicPrefix: prefix,
    partitions: 2, crmPollInterval: '200ms', extra: o.extra,
  });
  return {
    sandbox, db, crmSchema, stateSchema, prefix,
    start: () => startServiceProcess(file, { ECS_TEST_EWS_PASSWORD: 'sandbox' }),
    close: async (service) => {
      await service?.stop('SIGTERM');
      await sandbox.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    },
  };
}
