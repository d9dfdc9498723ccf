import { randomBytes } from 'node:crypto';
import { Counter, Registry } from 'prom-client';
import type { SyncConfig } from '../config/index.js';
import { initReferenceCrm, seedDemoAssociates, seedDemoSelection } from './crm-init.js';
import type { CrmChangeFeed, CrmDirectory, CrmPort, MappedRecords } from './crm-port.js';
import { ReferenceCrm } from './reference-crm.js';
import { SuperOfficeCrm, SuperOfficeHttp } from './superoffice/index.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { openDatabase, type Database } from '../state/index.js';
import { startSuperOfficeSandbox, type SuperOfficeSandbox } from '../superoffice-sandbox/index.js';

export type Crm = CrmPort & CrmChangeFeed & CrmDirectory;

export interface OpenedCrm {
  readonly crm: Crm;
  /** The reference CRM's database (the demo writes rows in it as a user would). */
  readonly referenceDatabase?: Database;
  /** The built-in SuperOffice simulator (`<crm type="superoffice">` without url). */
  readonly simulator?: SuperOfficeSandbox;
  close(): Promise<void>;
}

export interface OpenCrmOptions {
  /** The reference CRM's database, opened by the caller (the state may share it). */
  readonly referenceDatabase?: Database;
  /** The sync's mapped records: SuperOffice's deletes are found against them. */
  readonly mapped: MappedRecords;
  /** The built-in EWS sandbox's mailboxes: the demo CRM's users are they. */
  readonly demoMailboxes?: readonly string[];
  readonly registry: Registry;
  readonly logger: Logger;
}

/**
 * The CRM the configuration names, behind its port: the reference CRM (its schema created or
 * migrated), or SuperOffice's Web API — a tenant's, or the built-in simulator's when no url is
 * configured (its users are the built-in EWS sandbox's mailboxes).
 */
export async function openCrm(config: SyncConfig, options: OpenCrmOptions): Promise<OpenedCrm> {
  const { logger } = options;
  const so = config.crm.superoffice;
  if (!so) {
    const db = options.referenceDatabase!;
    await initReferenceCrm(db, config.crm.schema);
    if (options.demoMailboxes && config.exchange.mailboxes.source === 'crm') {
      const added = await seedDemoAssociates(db, config.crm.schema, options.demoMailboxes);
      if (added) logger.info({ event: 'crm.demo-associates', added }, `added ${added} demo associates matching the sandbox mailboxes`);
      if (options.demoMailboxes[0] && config.sync.selections === 'subscribed' && (await seedDemoSelection(db, config.crm.schema, options.demoMailboxes[0]))) {
        logger.info({ event: 'crm.demo-selection', subscriber: options.demoMailboxes[0] }, `added the selection "Demo key accounts" (5 persons), subscribed to by ${options.demoMailboxes[0]}`);
      }
    }
    return { crm: new ReferenceCrm(db, config.crm.schema, await ReferenceCrm.markerOf(db, config.crm.schema)), referenceDatabase: db, close: async () => undefined };
  }
  let simulator: SuperOfficeSandbox | undefined;
  let url = so.url;
  let credentials = so.credentials;
  if (url === null) {
    simulator = await startSuperOfficeSandbox({ associates: options.demoMailboxes?.length ?? 20 });
    url = simulator.apiUrl;
    credentials = { kind: 'basic', user: simulator.apiUser.userName, password: simulator.password };
    logger.info({ event: 'superoffice-sandbox.started', url }, `built-in SuperOffice simulator on ${url}`);
  }
  // the built-in simulator sends its webhooks to this process, on a port of its own
  const webhook = so.webhook ?? (simulator ? { listen: { host: '127.0.0.1', port: 0 }, url: null, secret: randomBytes(24).toString('base64') } : null);
  const requests = new Counter({ name: 'ecs_crm_requests_total', help: 'Requests to the CRM\'s Web API, by method and HTTP status', labelNames: ['method', 'status'], registers: [options.registry] });
  const webhooks = new Counter({ name: 'ecs_crm_webhooks_total', help: 'Webhook requests from the CRM: accepted, or refused (bad signature, not JSON)', labelNames: ['outcome'], registers: [options.registry] });
  const http = new SuperOfficeHttp({
    url, credentials, appToken: so.appToken || undefined, tlsVerify: so.tlsVerify, timeoutMs: 60_000, maxSockets: config.sync.parallelism * 2 + 4,
    onRequest: (method, status) => requests.inc({ method, status: String(status) }),
  });
  try {
    const crm = await SuperOfficeCrm.open({
      http, tenant: url, application: so.foreignApp, device: 'Exchange', mapped: options.mapped, reconcileIntervalMs: so.reconcileIntervalMs, settleMs: 2_000,
      // SuperOffice has no never-ending series: one is written up to the end of the sync window
      seriesBoundDays: config.sync.windowFutureDays,
      directionField: so.directionField || undefined,
      webhook: webhook ? { listen: webhook.listen, url: webhook.url ?? undefined, secret: webhook.secret } : undefined,
      logger: logger.child({ component: 'superoffice' }), onWebhook: (outcome) => webhooks.inc({ outcome }),
    });
    return { crm, simulator, close: async () => {
      crm.close();
      await simulator?.close();
    } };
  } catch (err) {
    http.close();
    await simulator?.close();
    throw err;
  }
}

/**
 * The configured CRM for a command that only reads it (`dlq replay`): the reference CRM's
 * database, or SuperOffice's Web API (never the built-in simulator: it lives in the service).
 */
export async function openCrmForReading(config: SyncConfig): Promise<{ crm: Crm; close(): Promise<void> }> {
  const db = config.crm.type === 'superoffice' ? undefined : await openDatabase({ type: config.crm.type, url: config.crm.url, path: config.crm.path, poolSize: 2 });
  const none: MappedRecords = { page: async () => [], mailboxOf: async () => undefined };
  const opened = await openCrm(config, { referenceDatabase: db, mapped: none, registry: new Registry(), logger: silentLogger() });
  return { crm: opened.crm, close: async () => {
    await opened.close();
    await db?.close();
  } };
}
