// Both directions wired as the service wires them (stream source → log → to-crm; CRM change
// feed → log → to-exchange), with the state and the log on PostgreSQL, against an in-process
// EWS sandbox and either CRM: the reference CRM on PostgreSQL, or SuperOffice's Web API (the
// simulator, with webhooks to the rig). The handlers' consumers can be stopped and started
// again, so a test can make edits on both sides while neither is applied: a conflict, made on
// purpose.
import type { ConflictPolicy, PrivateItems } from '../../src/config/index.js';
import type { CategoryTypes, FieldDirections } from '../../src/handlers/index.js';
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates, SuperOfficeCrm, SuperOfficeHttp, type CrmChangeFeed, type CrmDirectory, type CrmPort, type CrmRef } from '../../src/crm-adapter/index.js';
import {
  ContactsToCrm, ContactsToExchange, ItemMappingStore, routeByType, runHandler, SelectionFolderStore, SelectionsToExchange, ToCrmHandler, ToExchangeHandler,
  type ChangeHandler, type ConflictReport,
} from '../../src/handlers/index.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/index.js';
import type { MailboxStore } from '../../src/exchange/index.js';
import { ewsIdOf } from '../../src/sandbox/graph/graph-ids.js';
import { openExchangeSide } from '../../src/subscriptions/open-exchange-side.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { Limiter } from '../../src/shared/limiter.js';
import { createLogger, silentLogger } from '../../src/shared/logger.js';
import { PgDatabase, SqlPositionStore } from '../../src/state/index.js';
import { CrmToLog } from '../../src/streams/crm-to-log.js';
import { ExchangeToLog } from '../../src/streams/exchange-to-log.js';
import type { RunningConsumer, Transport } from '../../src/streams/transport/transport.js';
import { EmbeddedTransport } from '../../src/streams/transport/embedded-transport.js';
import type { SuperOfficeSandbox } from '../../src/superoffice-sandbox/index.js';
import type { CrmUser } from './crm-port-contract.js';
import { referenceCrmUser } from './reference-crm-user.js';
import { postgresUrl, uniqueName } from './services.js';
import { createSource, MutableDirectory, waitUntil } from './source-harness.js';
import { startCheckedSuperOffice } from './superoffice.js';
import { superOfficeCrmUser } from './superoffice-crm-user.js';

export type CrmKind = 'reference' | 'superoffice';
export const CRM_KINDS: readonly CrmKind[] = ['reference', 'superoffice'];
/** How the sync reaches the mailboxes: EWS streaming, or Microsoft Graph's notifications (the users' hands stay on EWS: one store). */
export type ExchangeKind = 'EwsStream' | 'GraphNotify';
/** The variants a two-way test runs in: each CRM over EWS, and the reference CRM over Graph. */
export const VARIANTS: ReadonlyArray<{ crm: CrmKind; exchange: ExchangeKind }> = [
  { crm: 'reference', exchange: 'EwsStream' }, { crm: 'superoffice', exchange: 'EwsStream' }, { crm: 'reference', exchange: 'GraphNotify' },
];

export interface TwoWayRig {
  readonly crmKind: CrmKind;
  readonly exchangeKind: ExchangeKind;
  readonly sandbox: Sandbox;
  readonly db: PgDatabase;
  /** The reference CRM's schema (reference CRM only). */
  readonly crmSchema: string;
  readonly stateSchema: string;
  readonly conflicts: ConflictReport[];
  /** The sync's mailbox store (EWS or Graph, as `exchangeKind`). */
  readonly exchange: MailboxStore;
  readonly transport: Transport;
  readonly crm: CrmPort & CrmChangeFeed & CrmDirectory;
  /** A CRM user's hands (SQL on the reference CRM, REST as that user on SuperOffice). */
  readonly user: CrmUser;
  readonly mappings: ItemMappingStore;
  readonly selections: SelectionFolderStore;
  /** Messages parked in each dead-letter topic so far. */
  parked(topic: 'exchange.changes.dlq' | 'crm.changes.dlq'): Promise<number>;
  /** The SuperOffice simulator (SuperOffice only). */
  readonly superoffice?: SuperOfficeSandbox;
  /** Messages written to each topic so far. */
  published(topic: 'exchange.changes' | 'crm.changes'): Promise<number>;
  /** The mailbox item a CRM record is mapped to, by its EWS ItemId (the users' hands are EWS). */
  itemOf(ref: CrmRef): Promise<{ mailbox: string; itemId: string } | undefined>;
  /** Stops the two handler groups (the sources keep publishing). */
  pauseHandlers(): Promise<void>;
  resumeHandlers(): Promise<void>;
  /** Both handler groups have consumed everything published. */
  drained(): Promise<boolean>;
  close(): Promise<void>;
}

/** `contacts`: the Contacts folder is synced too (persons ↔ contacts) and selections become contact folders. */
export async function startTwoWayRig(options: { mailboxes: number; itemsPerMailbox?: number; seed: number; conflict?: ConflictPolicy; privateItems?: PrivateItems; categories?: { include: string[]; exclude: string[] }; fields?: FieldDirections; categoryTypes?: CategoryTypes; crm?: CrmKind; exchange?: ExchangeKind; contacts?: boolean }): Promise<TwoWayRig> {
  const crmKind = options.crm ?? 'reference';
  const exchangeKind = options.exchange ?? 'EwsStream';
  const graph = exchangeKind === 'GraphNotify';
  const db = new PgDatabase(postgresUrl());
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  const sandbox = await startSandbox({
    mailboxes: options.mailboxes, itemsPerMailbox: options.itemsPerMailbox ?? 0, seed: options.seed, limits: { heartbeatMs: 500 },
    ...(graph ? { oauth: { apps: [{ tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: GRAPH_SECRET }] }, graph: true } : {}),
  });
  await ItemMappingStore.migrate(db, stateSchema);
  await SelectionFolderStore.migrate(db, stateSchema);
  const mappings = new ItemMappingStore(db, stateSchema);
  const selections = new SelectionFolderStore(db, stateSchema);
  const logger = createLogger({ level: (process.env.ECS_TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent' });
  let crm: CrmPort & CrmChangeFeed & CrmDirectory;
  let user: CrmUser;
  let superoffice: SuperOfficeSandbox | undefined;
  if (crmKind === 'reference') {
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
    crm = new ReferenceCrm(db, crmSchema);
    user = referenceCrmUser(db, crmSchema);
  } else {
    // the simulator's users user0001 … are the sandbox's mailboxes
    superoffice = await startCheckedSuperOffice({ associates: options.mailboxes });
    crm = await SuperOfficeCrm.open({
      http: new SuperOfficeHttp({ url: superoffice.apiUrl, credentials: { kind: 'basic', user: superoffice.apiUser.userName, password: superoffice.password }, tlsVerify: true, timeoutMs: 10_000, maxSockets: 16 }),
      tenant: superoffice.apiUrl, application: 'ExchangeCrmSync', device: 'Exchange',
      mapped: { page: (e, a, l) => mappings.page(e, a, l), mailboxOf: (r) => mappings.mailboxOf(r), selectionRefs: () => selections.selectionRefs() }, reconcileIntervalMs: 2_000, settleMs: 300, logger,
      webhook: { listen: { host: '127.0.0.1', port: 0 }, secret: 'rig-secret' },
    });
    user = superOfficeCrmUser(superoffice);
  }
  const transport = await EmbeddedTransport.open(db, stateSchema, 2, silentLogger());
  const topics = ['exchange.changes', 'exchange.changes.dlq', 'crm.changes', 'crm.changes.dlq'];
  await transport.ensureTopics(topics);
  const positions = await SqlPositionStore.open(db, stateSchema);
  const directory = new MutableDirectory(sandbox.store.all().map((m) => m.address));
  const { source, exchange, closeSide } = graph
    ? graphSource(sandbox, positions, directory, options.contacts ?? false)
    : { ...createSource('stream', sandbox, positions as never, directory, options.contacts ? { folders: ['calendar', 'tasks', 'contacts'] } : {}, { ack: false }), closeSide: undefined };
  const toLog = new ExchangeToLog({ source, exchange, transport, topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', limiter: new Limiter(4), logger: silentLogger(), versionsHeld: (mailbox, items) => mappings.versionsHeld(mailbox, items) });
  const crmToLog = new CrmToLog({ crm, positions, transport, topic: 'crm.changes', dlqTopic: 'crm.changes.dlq', logger, pollIntervalMs: 200 });
  const conflicts: ConflictReport[] = [];
  const common = { crm, mappings, logger, privateItems: options.privateItems ?? 'sync', categories: options.categories, fields: options.fields, categoryTypes: options.categoryTypes, conflict: options.conflict, onConflict: (r: ConflictReport) => conflicts.push(r) };
  const toCrm: ChangeHandler[] = [new ToCrmHandler({ ...common, exchange })];
  const toExchange: ChangeHandler[] = [new ToExchangeHandler({ ...common, exchange })];
  if (options.contacts) {
    toCrm.push(new ContactsToCrm({ ...common, exchange }));
    toExchange.push(new ContactsToExchange({ ...common, exchange, selections, ownedContacts: true }), new SelectionsToExchange({ crm, exchange, selections, mappings, logger }));
  }
  let consumers: RunningConsumer[] = [];
  const resumeHandlers = async (): Promise<void> => {
    consumers = [
      await runHandler({ transport, groupId: 'to-crm', topic: 'exchange.changes', dlqTopic: 'exchange.changes.dlq', concurrency: 2, direction: 'to-crm', handle: routeByType(toCrm), logger }),
      await runHandler({ transport, groupId: 'to-exchange', topic: 'crm.changes', dlqTopic: 'crm.changes.dlq', concurrency: 2, direction: 'to-exchange', handle: routeByType(toExchange), logger }),
    ];
  };
  const published = async (topic: string): Promise<number> => (await transport.lag('to-crm', [topic])).reduce((n, p) => n + p.logEndOffset, 0);
  await resumeHandlers();
  toLog.start();
  source.start();
  await crmToLog.start();
  await waitUntil(() => source.stats().initialSyncDone === options.mailboxes, 30_000, 'initial sync');
  // what the CRM had before the rig started (SuperOffice: its users' own persons) is in the log
  // before a test counts what its own changes publish
  let seen = -1;
  await waitUntil(async () => {
    await new Promise((r) => setTimeout(r, 600));
    const now = await published('crm.changes');
    const stable = now === seen;
    seen = now;
    return stable;
  }, 20_000, 'the CRM feed caught up');
  return {
    crmKind, exchangeKind, sandbox, db, crmSchema, stateSchema, conflicts, exchange, transport, crm, user, mappings, selections, superoffice,
    published,
    parked: async (topic) => (await transport.lag('dlq-watch', [topic])).reduce((n, p) => n + p.logEndOffset, 0),
    itemOf: async (ref) => {
      const m = await mappings.getByCrmId(ref);
      return m && !m.deleted ? { mailbox: m.mailbox, itemId: graph ? ewsIdOf(m.itemId) : m.itemId } : undefined;
    },
    pauseHandlers: async () => {
      for (const c of consumers.splice(0)) await c.stop();
    },
    resumeHandlers,
    drained: async () => {
      const lag = [...(await transport.lag('to-crm', ['exchange.changes'])), ...(await transport.lag('to-exchange', ['crm.changes']))];
      return lag.every((p) => p.lag === 0);
    },
    close: async () => {
      for (const c of consumers.splice(0)) await c.stop();
      await crmToLog.stop();
      await toLog.stop();
      await source.stop();
      await (closeSide ? closeSide() : exchange.close());
      await sandbox.close();
      if (crm instanceof SuperOfficeCrm) crm.close();
      await superoffice?.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema ${stateSchema} cascade`);
      await db.close();
    },
  };
}

const GRAPH_SECRET = 'two-way-graph-secret';

/**
 * The Exchange side over Microsoft Graph as the service opens it (<advise Object="GraphNotify"/>:
 * the sandbox's webhook notifications, the calendar view's delta), from a configuration file.
 */
function graphSource(sandbox: Sandbox, positions: SqlPositionStore, directory: MutableDirectory, contacts: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'ecs-rig-'));
  const file = join(dir, 'CalendarSyncExchange.config.xml');
  writeFileSync(join(dir, 'sandbox-ca.pem'), sandbox.tokens!.ca);
  writeFileSync(file, `<configuration><calendar_sync>
    <exchange><events><advise Object="GraphNotify"/></events>
      <graph url="${sandbox.graph!.url}" authority="${sandbox.tokens!.url}" tenant="contoso" clientId="exchange-crm-sync" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="sandbox-ca.pem" safetyPoll="10m" pollInterval="5s"/>
    </exchange>
    <sync items="appointments,tasks${contacts ? ',contacts' : ''}"/>
  </calendar_sync></configuration>`);
  const { config } = loadConfig(file, { ECS_TEST_GRAPH_SECRET: GRAPH_SECRET }, { cwd: dir });
  const logger = createLogger({ level: (process.env.ECS_TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent' });
  const side = openExchangeSide(config, { registry: new Registry(), logger });
  const source = side.createSource({ positions, logger, directory });
  return { source, exchange: side.store, closeSide: () => side.close() };
}
