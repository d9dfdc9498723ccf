import { assertMovableToGraph, followPlacement, followProtocol } from './exchange-migration.js';
import { migrateState } from './migrate-state.js';
import { LiveMover } from './live-move.js';
import { moveRoutes } from './move-routes.js';
import { json } from './http-reply.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { loadConfig, type PrivateItems, type SyncConfig } from '../config/index.js';
import { ConfigError } from '../shared/errors.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { openCrm, type CrmDirectory, type MappedRecords } from '../crm-adapter/index.js';
import { Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { checkCrmIdentity, checkStateIdentity, openDatabase, SqlPositionStore, type Database } from '../state/index.js';
import { Limiter } from '../shared/limiter.js';
import { CrmCatchUp, CrmToLog, ExchangeToLog, type ChangeEnvelope, groupsOf, LagMonitor, openTransport, PipelineMetrics, topicsOf, type Transport } from '../streams/index.js';
import { CsvFileDirectory, DirectedDirectory, directoryFor, HybridSource, MailboxDirections, MailboxOwnership, openExchangeSide, OwnedDirectory, recordedMailboxProtocol, recordedMailboxProtocols, type DirectionSnapshot, type ExchangeProtocol, type MailboxChangeSource, type OpenExchangeSideOptions, type Towards } from '../subscriptions/index.js';
import type { MailboxPositionKind } from '../exchange/index.js';
import {
  behindBreaker, ContactsToCrm, ContactsToExchange, DeleteBreaker, ItemMappingStore, routeByType, runHandler, SelectionFolderStore, SelectionsToExchange, ToCrmHandler, ToExchangeHandler,
  UnconfirmedItems, verdictOf, exchangeShapeOf, heldBack, type CategoryTypes, type ChangeHandler, type ConflictReport, type FieldDirections,
} from '../handlers/index.js';
import { breakerRoutes } from './breaker-routes.js';
import { startOpsServer, type ReadinessCheck } from './ops-server.js';
import { progressLine } from './progress-bar.js';
import { hostname } from 'node:os';
import { DlqSizes } from './dlq-sizes.js';
import { LagHistory } from './lag-history.js';
import { LatencyWindow } from './latency-window.js';
import { MailboxBacklog } from './mailbox-backlog.js';
import { statusRoutes } from './status-routes.js';
import { demoRoutes } from './demo-routes.js';
import { verifyRoutes } from './verify-routes.js';
import { PolicySkips, type PolicyRule } from './policy-skips.js';
import { verifyMailbox } from './verify.js';
import { VerifySample } from './verify-sample.js';
import { lockDataFolders, usesBuiltInSandbox } from './data-folders.js';
import { referenceDemoUser, superOfficeDemoUser } from './demo-crm-users.js';
import type { StatusSources } from './status-report.js';
import { PACKAGE_VERSION } from './package-version.js';

export interface RunningService {
  readonly lifecycle: Lifecycle;
  readonly opsUrl: string;
  readonly registry: Registry;
  readonly source: MailboxChangeSource;
  readonly database: Database;
  readonly ewsUrl: string;
  readonly transport: Transport;
  readonly lag: LagMonitor;
  readonly exchangeToLog: ExchangeToLog;
  readonly ownership: MailboxOwnership;
}

/** Observers for embedding programs (the benchmark); the service itself needs none. */
export interface ServiceHooks {
  onApplied?: (direction: 'to-crm' | 'to-exchange', envelope: ChangeEnvelope, appliedAt: number) => void;
  /** The state belongs to another CRM: forget its mappings and positions instead of refusing to start. */
  rebaseline?: boolean;
  /** The state is this organisation's over EWS, the configuration now reaches it over Graph: keep the state, ids translated. */
  moveToGraph?: boolean;
}

/**
 * Starts every part the configuration asks for, in dependency order, registering each
 * with the lifecycle so that shutdown runs in reverse.
 */
export async function startService(configured: SyncConfig, logger: Logger, hooks: ServiceHooks = {}): Promise<RunningService> {
  let config = configured;
  const startedAt = Date.now();
  const lifecycle = new Lifecycle({ logger, shutdownTimeoutMs: config.ops.shutdownTimeoutMs });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Start-up parses tens of thousands of EWS answers: with V8's default the heap grows to ~4×
  // the live data and stays there (1 GB RSS at 10,000 mailboxes, 180 MB live). Set before
  // the work begins; an operator's own NODE_OPTIONS flag wins.
  if (config.ops.heapGrowingPercent > 0 && !/heap-growing-percent/.test(process.env.NODE_OPTIONS ?? '')) setFlagsFromString(`--heap-growing-percent=${config.ops.heapGrowingPercent}`);
  const readiness: ReadinessCheck[] = [];
  try {
    // first taken, last given back: nothing of ours touches a folder another instance holds
    const folders = lockDataFolders(config, logger);
    lifecycle.add('data-folder-locks', () => {
      for (const f of folders) f.release();
    });
    const crmDatabase = config.crm.type === 'superoffice' ? undefined : await openDatabase({ type: config.crm.type, url: config.crm.url, path: config.crm.path, poolSize: config.state.poolSize });
    if (crmDatabase) lifecycle.add('crm-database', () => crmDatabase.close());
    const database = config.state.shared && crmDatabase ? crmDatabase : await openDatabase(config.state);
    if (database !== crmDatabase) lifecycle.add('state-database', () => database.close());
    logger.info({ event: 'database.open', kind: database.kind, shared: database === crmDatabase }, `state database: ${database.kind}${database === crmDatabase ? ' (the CRM\'s)' : ''}`);

    let builtIn: OpenExchangeSideOptions['builtIn'];
    let demo: Sandbox | undefined;
    const hybrid = config.exchange.online !== null;
    const overGraph = config.exchange.mode.startsWith('Graph') || hybrid;
    if (usesBuiltInSandbox(config)) {
      // No <ews> (or <graph>): the built-in sandbox with demo mailboxes stands in for Exchange.
      const app = { tenant: 'sandbox', clientId: 'exchange-crm-sync', clientSecret: randomBytes(24).toString('base64url') };
      const sandbox = await startSandbox({
        mailboxes: config.sandbox.mailboxes, itemsPerMailbox: 5, seed: config.sandbox.seed, activity: config.sandbox.activity, dataFile: config.sandbox.path && join(config.sandbox.path, 'mailboxes.json'),
        ...(overGraph ? { oauth: { apps: [app] }, graph: true } : {}),
      });
      lifecycle.add('ews-sandbox', () => sandbox.close());
      demo = sandbox;
      const kept = { fresh: 'new demo mailboxes', restored: 'the demo mailboxes as they were', recovered: 'the demo mailboxes as last saved before a crash (later changes are gone, as after a restore from backup)' }[sandbox.dataOutcome];
      logger.info({ event: 'sandbox.started', url: sandbox.url, mailboxes: sandbox.store.size, activity: config.sandbox.activity, data: config.sandbox.path ?? 'memory', outcome: sandbox.dataOutcome, organisation: sandbox.organisation },
        `built-in ${overGraph ? `Exchange sandbox, Microsoft Graph on ${sandbox.graph!.url}` : `EWS sandbox on ${sandbox.url}`}: ${kept}${config.sandbox.path ? ` (kept in ${config.sandbox.path})` : ' (in memory)'}`);
      const identity = `the built-in sandbox ${sandbox.organisation}`;
      // a hybrid organisation on the built-in sandbox: one mailbox store seen through both protocols
      const graph = overGraph ? { graph: { ...config.exchange.graph, url: sandbox.graph!.url, authority: sandbox.tokens!.authority(app.tenant), clientId: app.clientId, clientSecret: app.clientSecret, certificateFile: '', ca: sandbox.tokens!.ca } } : {};
      const ews = !config.exchange.mode.startsWith('Graph') ? { ews: { ...config.exchange.ews, url: sandbox.url, user: sandbox.serviceAccount, password: 'sandbox', impersonation: true } } : {};
      builtIn = { ...graph, ...ews, identity };
    }

    // the state's tables first, one instance at a time (a scale-out's replicas start together);
    // migrations before anything reads them (ALTER TABLE's lock would hold the CRM poller's reads)
    await migrateState(database, config.state.schema);
    const positions = await SqlPositionStore.open(database, config.state.schema);
    // a hybrid organisation places mailboxes by the CRM's word too: read once the CRM is open (below)
    const placedByCrm: { directory?: CrmDirectory } = {};
    const side = openExchangeSide(config, { registry, logger, builtIn, positions, crmHomes: async () => (await placedByCrm.directory?.mailboxHomes?.()) ?? new Map() });
    const exchange = side.store;
    lifecycle.add('exchange', () => side.close());
    // what the protocol does not sync yet is left out, said once, never failed item by item
    const left = config.sync.items.filter((i) => !side.servedItems.includes(i));
    if (left.length || (config.sync.selections === 'subscribed' && !side.servedItems.includes('contacts'))) {
      logger.warn({ event: 'exchange.items-not-served', mode: side.mode, left }, `${side.mode} does not sync ${[...left, ...(config.sync.selections === 'subscribed' && !left.includes('contacts') ? ['selections'] : [])].join(', ')} yet: left out (see the README, "Exchange Online (Graph)")`);
      config = { ...config, sync: { ...config.sync, items: config.sync.items.filter((i) => side.servedItems.includes(i)), selections: side.servedItems.includes('contacts') ? config.sync.selections : 'none' } };
    }
    const log = await openTransport(config, logger);
    const transport = log.transport;
    lifecycle.add('transport', () => log.close());
    const topics = topicsOf(config.transport.topicPrefix);
    const groups = groupsOf(config.transport.topicPrefix);
    await transport.ensureTopics([topics.exchangeChanges, topics.crmChanges, topics.dlq(topics.exchangeChanges), topics.dlq(topics.crmChanges), topics.mailboxes]);
    logger.info({ event: 'transport.ready', kind: transport.kind }, `log: ${transport.kind}`);
    const metrics = new PipelineMetrics(registry);
    const lag = new LagMonitor(transport, [
      { groupId: groups.toCrm, topics: [topics.exchangeChanges] },
      { groupId: groups.toExchange, topics: [topics.crmChanges] },
    ], registry, logger);

    // Instances share the mailboxes through the group's assignment of <prefix>mailboxes; the
    // one holding partition 0 also reads the CRM's change log (one reader, no duplicates).
    const ownership = new MailboxOwnership();
    const owners = await transport.consume({
      groupId: groups.owners, topics: [topics.mailboxes], concurrency: 1, handle: async () => undefined,
      onAssignment: (_topic, assigned, count) => {
        logger.info({ event: 'ownership.assigned', partitions: assigned, of: count }, `this instance owns partitions [${assigned.join(', ')}] of ${count}`);
        ownership.assign(assigned, count);
      },
    });
    lifecycle.add('mailbox-ownership', () => owners.stop());
    const mappings = new ItemMappingStore(database, config.state.schema);
    const selectionFolders = new SelectionFolderStore(database, config.state.schema);
    // what the CRM's feed checks deletions against: the mapped records and the selections with folders
    const mapped: MappedRecords = { page: (entity, after, limit) => mappings.page(entity, after, limit), mailboxOf: (ref) => mappings.mailboxOf(ref), selectionRefs: () => selectionFolders.selectionRefs() };
    const opened = await openCrm(config, { referenceDatabase: crmDatabase, mapped, demoMailboxes: demo?.store.all().map((m) => m.address), registry, logger });
    lifecycle.add('crm', () => opened.close());
    const { crm } = opened;
    placedByCrm.directory = crm;
    // the demo's hands on the CRM side: only on a CRM of the demo's own
    const demoCrmUser = opened.simulator ? superOfficeDemoUser(opened.simulator) : opened.referenceDatabase && config.crm.type === 'embedded' ? referenceDemoUser(opened.referenceDatabase, config.crm.schema) : undefined;
    logger.info({ event: 'crm.open', crm: crm.identity }, `CRM: ${crm.identity}`);
    // the state is this CRM's (the built-in simulator's data lives in memory: a new one each start)
    const identity = await checkCrmIdentity(database, config.state.schema, crm.identity, hooks.rebaseline === true || opened.simulator !== undefined);
    if (identity === 'rebaselined') logger.warn({ event: 'state.rebaselined', crm: crm.identity }, `the sync state belonged to another CRM: its mappings and positions are forgotten; every mailbox is read anew`);
    // ... and this Exchange's: another one's mappings would make this one's items look deleted
    // (a built-in sandbox kept in memory is a new organisation at every start)
    const exchangeId = side.identity;
    // (--move-to-graph: the operator says the organisation is the same, now reached over Graph)
    if (hooks.moveToGraph === true) await assertMovableToGraph(database, config.state.schema, side.protocol);
    const sameExchange = await checkStateIdentity(database, config.state.schema, 'exchange', exchangeId, hooks.rebaseline === true || (demo !== undefined && config.sandbox.path === undefined), hooks.moveToGraph === true);
    if (sameExchange === 'adopted') logger.warn({ event: 'state.moved-to-graph', exchange: exchangeId }, `the sync state of this organisation over EWS is kept for ${exchangeId}`);
    if (sameExchange === 'rebaselined') logger.warn({ event: 'state.rebaselined', exchange: exchangeId }, `the sync state belonged to another Exchange organisation: its mappings and positions are forgotten; every mailbox is read anew (${exchangeId})`);
    // ... and this protocol's: a deployment moved from EWS to Graph keeps its mappings (ids translated)
    await followProtocol(database, config.state.schema, side, ['calendar', 'tasks', 'contacts'], logger, hooks.rebaseline === true);
    // ... and, in a hybrid organisation, each mailbox where it lives: those the mailbox file has put online move to Graph
    if (side.placement) await followPlacement(database, config.state.schema, side, await directoryFor(config, crm).list(), ['calendar', 'tasks', 'contacts'], logger);
    const crmPoller = followLeadership(ownership, () =>
      new CrmToLog({ crm, positions, transport, topic: topics.crmChanges, dlqTopic: topics.dlq(topics.crmChanges), logger: logger.child({ component: 'crm-poller' }), metrics, pollIntervalMs: config.crm.pollIntervalMs }), logger);
    lifecycle.add('crm-poller', () => crmPoller.stop());

    const backlog = new MailboxBacklog();
    const latency = { toCrm: new LatencyWindow(), toExchange: new LatencyWindow(), windowMinutes: 10 };
    const observe = (direction: 'to-crm' | 'to-exchange', e: ChangeEnvelope, at: number): void => {
      (direction === 'to-crm' ? latency.toCrm : latency.toExchange).observe(Math.max(0, at - e.detectedAt));
      hooks.onApplied?.(direction, e, at);
    };
    const conflicts = { conflict: config.sync.conflict, onConflict: (r: ConflictReport) => metrics.conflicts.inc({ policy: r.policy, winner: r.winner }) };
    const contacts = config.sync.items.includes('contacts');
    const breaker = new DeleteBreaker(database, config.state.schema, config.sync.deleteBreaker, mappings, logger.child({ component: 'delete-breaker' }), registry);
    await breaker.load();
    if (config.sync.deleteBreaker.percent > 0) readiness.push({ name: 'delete-breaker', check: () => breaker.describe() });
    // a delete of a mapped item passes the breaker first (percent 0: every delete passes)
    // What of an Outlook item reaches the CRM (private, categories): read again on reload, so the
    // handler and the breaker share this one object.
    const itemPolicy: { privateItems: PrivateItems; categories: SyncConfig['sync']['categories']; fields: SyncConfig['sync']['fields']; categoryTypes: SyncConfig['sync']['categoryTypes'] } = {
      privateItems: config.sync.private, categories: config.sync.categories, fields: config.sync.fields, categoryTypes: config.sync.categoryTypes,
    };
    const keptFromCrm = (item: { categories?: readonly string[]; private?: boolean }): boolean =>
      verdictOf(item, { private: itemPolicy.privateItems, categories: itemPolicy.categories }).action === 'hide';
    const hiddenByPolicy = (e: ChangeEnvelope): boolean =>
      !!e.after && (e.source.startsWith('exchange:') ? keptFromCrm(e.after) : !!e.after.private && itemPolicy.privateItems === 'skip');
    const guarded = (handler: ChangeHandler): ChangeHandler => config.sync.deleteBreaker.percent === 0 ? handler : behindBreaker(handler, breaker, async (e) => {
      const m = e.source.startsWith('exchange:') ? await mappings.get(e.source.slice('exchange:'.length), e.subject) : await mappings.getByCrmId(e.subject);
      return !!m && !m.deleted;
    }, (e) => e.op === 'd' || hiddenByPolicy(e));
    // one handler per item type behind one router per direction
    // a change read through the protocol a mailbox has moved away from waited in the log over the move: not a new item
    const kindOf = (protocol: ExchangeProtocol): MailboxPositionKind => (protocol === 'graph' ? 'graph-delta' : 'ews-syncstate');
    const placement = side.placement;
    const positionKindOf = placement
      ? async (mailbox: string) => kindOf((await recordedMailboxProtocol(positions, mailbox)) ?? placement.protocolOf(mailbox))
      : async () => kindOf(side.protocol);
    // each mailbox's direction decides which changes are written: read before the first change
    // is applied, again with each listing
    const mailboxFile = config.exchange.mailboxes.source === 'file' && config.exchange.mailboxes.file ? new CsvFileDirectory(config.exchange.mailboxes.file) : undefined;
    // the operator's word for a mailbox (<mailbox direction>, the mailbox file's column) wins over the
    // CRM's (associate.sync_direction), which wins over <sync direction>
    let configured = config.exchange.mailboxes.directions;
    const directions = new MailboxDirections(config.sync.direction, async () => new Map([...((await crm.mailboxDirections?.()) ?? []), ...configured, ...((await mailboxFile?.directions()) ?? [])]), logger.child({ component: 'policy' }));
    // a mailbox switched back towards Exchange gets the CRM changes skipped meanwhile (also across a restart)
    const catchUp = new CrmCatchUp({
      crm, feedName: crm.name, mapped: (mailbox) => mappings.ofMailbox(mailbox), positions, transport, topic: topics.crmChanges, logger: logger.child({ component: 'policy' }),
    });
    const remembered = await positions.get(DIRECTIONS_KEY);
    directions.restore(remembered ? (JSON.parse(remembered) as DirectionSnapshot) : undefined);
    const turned = directions.turnedTowardsExchange.subscribe(({ mailboxes, snapshot }) => {
      // the requests are saved before the directions they follow from: a stop in between repeats a catch-up, never skips one
      void catchUp.request(mailboxes).then(() => positions.save(DIRECTIONS_KEY, JSON.stringify(snapshot)))
        .catch((err: unknown) => logger.error({ err, event: 'catch-up.failed' }, 'saving the mailboxes to catch up failed'));
    });
    lifecycle.add('catch-up', async () => {
      turned.unsubscribe();
      await catchUp.idle();
    });
    void catchUp.resume();
    await directions.refresh();
    /** Reads every mailbox anew (set once the source exists). */
    let rereadAll: () => number = () => 0;
    /** A reload reads the policy in the configuration file again too (<sync direction>, <mailbox direction>). */
    const reloadPolicy = async (trigger: 'SIGHUP' | 'reload'): Promise<void> => {
      try {
        const { config: again } = loadConfig(config.file, process.env, { requireSecrets: false });
        configured = again.exchange.mailboxes.directions;
        directions.useFallback(again.sync.direction);
        // what decides whether, and how, an item's record is in the CRM
        const itemRules = (p: { private: unknown; categories: unknown; fields: unknown; categoryTypes: unknown }): string => JSON.stringify([p.private, p.categories, p.fields, p.categoryTypes]);
        const rulesChanged = itemRules({ private: itemPolicy.privateItems, categories: itemPolicy.categories, fields: itemPolicy.fields, categoryTypes: itemPolicy.categoryTypes }) !== itemRules(again.sync);
        const towardsExchange = (p: { fields: FieldDirections; categoryTypes: CategoryTypes }): string => exchangeShapeOf(heldBack(p.fields, 'exchange'), p.categoryTypes);
        const exchangeRulesChanged = towardsExchange(itemPolicy) !== towardsExchange(again.sync);
        Object.assign(itemPolicy, { privateItems: again.sync.private, categories: again.sync.categories, fields: again.sync.fields, categoryTypes: again.sync.categoryTypes });
        if (exchangeRulesChanged) {
          // a field let through towards Exchange, or other type pairs: every record goes out again,
          // and the handler writes those whose items were written under other rules
          const mailboxes = (await mappings.mailboxes()).filter((m) => directions.carries(m, 'exchange'));
          logger.info({ event: 'policy.exchange-rules-changed', mailboxes: mailboxes.length },
            `the rules for what of a record reaches Exchange changed: the CRM records of ${mailboxes.length} mailbox(es) are sent again, and written where their items were written under the old rules`);
          void catchUp.request(mailboxes, 'all');
        }
        if (rulesChanged) {
          // what the new rules imply for items synced already, as ordinary changes: every mailbox read anew
          const mailboxes = rereadAll();
          logger.info({ event: 'policy.items-changed', private: again.sync.private, categories: again.sync.categories, mailboxes },
            `the rules for what of an item reaches the CRM changed: ${mailboxes} mailbox(es) are read anew, so items now kept out leave the CRM, items now let in come, and records are written again as the rules now shape them`);
        }
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
        logger.error({ event: 'policy.file-refused', file: config.file, problems }, `${config.file} was not read again (${problems.join('; ')}): the sync policy in it stays as it was`);
      }
      await directions.reload();
      logger.info({ event: 'policy.reloaded', fallback: directions.fallback, named: directions.named() }, `${trigger === 'SIGHUP' ? 'SIGHUP: ' : ''}sync policy read again`);
    };
    // SIGHUP reads the policy again (registered early: shutdown stops taking work first, this last)
    const onHangUp = (): void => void reloadPolicy('SIGHUP');
    process.on('SIGHUP', onHangUp);
    lifecycle.add('sighup', () => void process.off('SIGHUP', onHangUp));
    const skips = new PolicySkips();
    const skippedByPolicy = new Counter({ name: 'ecs_policy_skipped_total', help: 'Changes not written because of the sync policy, by rule and by the side they were not written to', labelNames: ['rule', 'towards'], registers: [registry] });
    /** A change a rule kept from one side: the service's total and the mailbox's own count. */
    const skipped = (rule: PolicyRule, towards: Towards, mailbox: string): void => {
      skippedByPolicy.inc({ rule, towards });
      skips.count(mailbox, rule);
    };
    type Handle = ReturnType<typeof routeByType>;
    const directed = (towards: Towards, handle: Handle): Handle => async (envelope, at) => {
      // an Exchange change names its mailbox; a CRM change's key is its owner's mailbox
      const mailbox = towards === 'crm' ? envelope.source.slice('exchange:'.length) : at.key.toLowerCase();
      if (directions.carries(mailbox, towards)) return handle(envelope, at);
      skipped('direction', towards, mailbox);
      return 'skipped';
    };
    const toCrmHandlers: ChangeHandler[] = [new ToCrmHandler({
      crm, mappings, logger: logger.child({ component: 'to-crm' }), get privateItems() { return itemPolicy.privateItems; }, get categories() { return itemPolicy.categories; }, get fields() { return itemPolicy.fields; }, get categoryTypes() { return itemPolicy.categoryTypes; }, attendees: config.sync.attendees, exchange, positionKindOf, ...conflicts,
      onPolicySkip: (rule, mailbox) => skipped(rule, 'crm', mailbox),
    })];
    if (contacts) toCrmHandlers.push(new ContactsToCrm({ crm, mappings, logger: logger.child({ component: 'to-crm' }), exchange, positionKindOf, ...conflicts }));
    const toCrmConsumer = await runHandler({
      transport, groupId: groups.toCrm, topic: topics.exchangeChanges, dlqTopic: topics.dlq(topics.exchangeChanges), concurrency: config.sync.parallelism,
      direction: 'to-crm', handle: directed('crm', routeByType(toCrmHandlers.map(guarded))), logger: logger.child({ component: 'to-crm' }), metrics,
      onApplied: (e, at) => observe('to-crm', e, at), onHandled: (key) => backlog.handled(key),
    });
    lifecycle.add('to-crm', () => toCrmConsumer.stop());
    const toExchangeLogger = logger.child({ component: 'to-exchange' });
    const toExchangeHandlers: ChangeHandler[] = [
      new ToExchangeHandler({ mappings, crm, exchange, logger: toExchangeLogger, get privateItems() { return itemPolicy.privateItems; }, get fields() { return itemPolicy.fields; }, get categoryTypes() { return itemPolicy.categoryTypes; }, onPolicySkip: (rule, mailbox) => skipped(rule, 'exchange', mailbox), ...(side.servedItems.includes('tasks') ? {} : { folders: ['calendar'] as const }), ...conflicts }),
      new ContactsToExchange({ mappings, selections: selectionFolders, crm, exchange, logger: toExchangeLogger, ownedContacts: contacts, ...conflicts }),
    ];
    if (config.sync.selections === 'subscribed') toExchangeHandlers.push(new SelectionsToExchange({ crm, exchange, selections: selectionFolders, mappings, logger: toExchangeLogger }));
    const toExchangeConsumer = await runHandler({
      transport, groupId: groups.toExchange, topic: topics.crmChanges, dlqTopic: topics.dlq(topics.crmChanges), concurrency: config.sync.parallelism,
      direction: 'to-exchange', handle: directed('exchange', routeByType(toExchangeHandlers.map(guarded))), logger: toExchangeLogger, metrics,
      onApplied: (e, at) => observe('to-exchange', e, at),
    });
    // a release applies the held-back deletes through the handlers themselves, past the breaker
    const released = { toCrm: routeByType(toCrmHandlers), toExchange: routeByType(toExchangeHandlers) };
    lifecycle.add('to-exchange', () => toExchangeConsumer.stop());
    const unconfirmed = new UnconfirmedItems({ crm, mappings, exchange, logger: logger.child({ component: 'to-crm' }), minAgeMs: 15_000, intervalMs: 15_000 });
    unconfirmed.start();
    lifecycle.add('unconfirmed-items', () => unconfirmed.stop());

    // a mailbox switched off is not listed: its subscriptions end, its mappings stay
    const directory = side.carried(new DirectedDirectory(directoryFor(config, crm), directions));
    // a hybrid organisation follows a mailbox Exchange moves to Exchange Online while it runs
    let heldOnPremises: (mailbox: string) => boolean = () => false;
    const mover = placement && new LiveMover({
      db: database, schema: config.state.schema, placement, graphStore: side.graphStore!, translateEwsIds: side.translateEwsIds!,
      heldOnPremises: (mailbox) => heldOnPremises(mailbox), logger: logger.child({ component: 'placement' }),
    });
    if (mover) placement.followWith((mailbox) => mover.follow(mailbox));
    const source = side.createSource({
      positions, logger, metrics: registry, directory: new OwnedDirectory(directory, ownership),
      knownItems: (mailbox, folder, before) => mappings.itemsIn(mailbox, folder, before),
      ...(mover ? { onUnavailable: (mailbox: string) => mover.follow(mailbox) } : {}),
    });
    if (source instanceof HybridSource) heldOnPremises = (mailbox) => source.holdsOn('ews', mailbox);
    rereadAll = () => source.snapshot();
    readiness.push(...side.readiness);
    if (placement) {
      const bySide: Gauge<'side'> = new Gauge({
        name: 'ecs_mailboxes_by_side', help: 'A hybrid organisation\'s mailboxes of this instance by where they are synced: ews (on premises) or graph (Exchange Online)', labelNames: ['side'], registers: [registry],
        collect: () => {
          const counts = placement.counts(source.mailboxes.all().map((m) => m.mailbox));
          bySide.set({ side: 'ews' }, counts.ews);
          bySide.set({ side: 'graph' }, counts.graph);
        },
      });
    }
    lifecycle.add('subscriptions', () => source.stop());
    const changeLog = logger.child({ component: 'exchange' });
    const exchangeToLog = new ExchangeToLog({
      source, exchange, transport, topic: topics.exchangeChanges, dlqTopic: topics.dlq(topics.exchangeChanges),
      limiter: new Limiter(config.exchange.pull.concurrency), logger: changeLog, metrics, onPublished: (mailbox, n) => backlog.published(mailbox, n),
      versionsHeld: (mailbox, items) => mappings.versionsHeld(mailbox, items),
    });
    exchangeToLog.start();
    // stopped before the source: what is in flight is published and acked, so positions get saved
    lifecycle.add('exchange-to-log', () => exchangeToLog.stop());
    source.start();
    let transportHealthy = true;
    const health = setInterval(() => void transport.healthy().then((ok) => (transportHealthy = ok)), 5_000);
    health.unref();
    lifecycle.add('transport-health', () => clearInterval(health));
    readiness.push({ name: 'transport', check: () => (transportHealthy ? null : `the ${transport.kind} log is not reachable`) });
    readiness.push({
      name: 'subscriptions',
      check: () => (source.mailboxes.size > 0 && source.mailboxes.countByState().active === 0 ? 'no mailbox is subscribed yet' : null),
    });
    watchInitialSync(source, logger);

    const lagHistory = new LagHistory(lag);
    lagHistory.start();
    lifecycle.add('lag-history', () => lagHistory.stop());
    const dlqTopics = [topics.dlq(topics.exchangeChanges), topics.dlq(topics.crmChanges)];
    const dlqGauge = new DlqSizes(transport, dlqTopics, groups.dlqReplay, registry);
    const verifyOptions = {
      exchange, crm, mappings, windowPastDays: config.sync.windowPastDays, windowFutureDays: config.sync.windowFutureDays,
      folders: config.sync.items.map((i) => (i === 'appointments' ? 'calendar' : i)),
      directionOf: (mailbox: string) => directions.of(mailbox), keptFromCrm,
    };
    const inFlight = async (): Promise<number> => (await lag.total(groups.toCrm)) + (await lag.total(groups.toExchange));
    // verify on its own, a few mailboxes a minute: drift shows in /status, /metrics and `status`
    const sample = new VerifySample({
      verify: (mailbox) => verifyMailbox(verifyOptions, mailbox), mailboxes: () => source.mailboxes.all().filter((m) => m.state === 'active').map((m) => m.mailbox),
      perRound: config.sync.verifySample.perRound, intervalMs: config.sync.verifySample.intervalMs, inFlight, registry, logger: logger.child({ component: 'verify-sample' }),
    });
    sample.start();
    lifecycle.add('verify-sample', () => sample.stop());
    const statusSources: StatusSources = {
      instance: `${hostname()}/${process.pid}`, version: PACKAGE_VERSION, startedAt, advise: config.exchange.online ? `${config.exchange.mode} on premises, ${config.exchange.online} in Exchange Online` : config.exchange.mode, transport: transport.kind,
      mailboxes: () => source.mailboxes.all(), partitions: () => ownership.partitions, readiness, lag: lagHistory, latency, backlog, registry, dlqSizes: () => dlqGauge.read(),
      verify: () => sample.report(),
      ...(placement ? { sideOf: (mailbox: string) => placement.protocolOf(mailbox) } : {}),
      directionOf: (mailbox: string) => directions.of(mailbox),
      skippedOf: (mailbox: string) => skips.of(mailbox),
      ...(side.accounts ? { accounts: side.accounts } : {}),
    };
    const ops = await startOpsServer({ host: config.ops.listen.host, port: config.ops.listen.port, registry, logger, readiness, routes: {
      ...statusRoutes(statusSources, source, backlog),
      ...breakerRoutes(breaker, (scope) => (scope === 'crm' ? released.toExchange : released.toCrm)),
      ...verifyRoutes({ ...verifyOptions, source, inFlight, ...(placement ? { sideOf: (mailbox: string) => placement.protocolOf(mailbox) } : {}) }),
      ...(mover ? moveRoutes({
        recorded: () => recordedMailboxProtocols(positions),
        move: async (mailbox, dryRun) => (await mover.move(mailbox, dryRun)) ?? { mailbox, byId: 0, byStamp: 0, unmatched: 0, selectionFolders: 0 },
        verify: (mailbox, over) => verifyMailbox({ ...verifyOptions, exchange: over === 'ews' ? exchange : side.graphStore! }, mailbox),
      }) : {}),
      // the sync policy read again now (also on SIGHUP): no restart, no wait for the next listing
      '/control/reload': async (req, res) => {
        if (req.method !== 'POST') return json(res, 405, { error: 'POST /control/reload' });
        await reloadPolicy('reload');
        return json(res, 200, { fallback: directions.fallback, named: directions.named() });
      },
      // both sides of the demo are ours only with the built-in sandbox and the embedded CRM
      ...(demo && demoCrmUser ? demoRoutes(demoCrmUser, demo) : {}),
    } });
    lifecycle.add('ops-http', () => ops.close());
    logger.info({ event: 'ops.listening', url: ops.url, statusPage: `${ops.url}/` }, `status page ${ops.url}/ (also /status, /metrics, /healthz, /readyz)`);
    return { lifecycle, opsUrl: ops.url, registry, source, database, ewsUrl: side.url, transport, lag, exchangeToLog, ownership };
  } catch (err) {
    await lifecycle.stop('error');
    throw err;
  }
}

/**
 * Runs the CRM change-log reader while this instance holds partition 0 of the mailboxes
 * topic; hands it over when a rebalance moves that partition. Start and stop are serialised.
 */
/** Where the mailboxes' directions are remembered between runs (a switch made while stopped is caught up too). */
const DIRECTIONS_KEY = 'policy:directions';

function followLeadership(ownership: MailboxOwnership, create: () => CrmToLog, logger: Logger): { stop(): Promise<void> } {
  let running: CrmToLog | undefined;
  let chain = Promise.resolve();
  let stopped = false;
  const apply = (): void => {
    chain = chain.then(async () => {
      const lead = !stopped && ownership.partitions.includes(0);
      if (lead && !running) {
        running = create();
        await running.start();
        logger.info({ event: 'crm-poller.leader' }, 'this instance reads the CRM change log');
      } else if (!lead && running) {
        const r = running;
        running = undefined;
        await r.stop();
        if (stopped) logger.info({ event: 'crm-poller.stopped' }, 'stopped reading the CRM change log (shutting down; an instance still running takes it over)');
        else logger.info({ event: 'crm-poller.handed-over' }, 'another instance reads the CRM change log now');
      }
    }).catch((err: unknown) => logger.error({ err }, 'starting or stopping the CRM change-log reader failed'));
  };
  const subscription = ownership.changes.subscribe(apply);
  apply();
  return {
    stop: async () => {
      stopped = true;
      subscription.unsubscribe();
      apply();
      await chain;
    },
  };
}

/**
 * Initial sync progress: a bar on a terminal of its own (stderr, when the log lines go
 * elsewhere: on one terminal they would cut through it), else a log line every 10 s; a log
 * line when done (and the metric always).
 */
function watchInitialSync(source: MailboxChangeSource, logger: Logger): void {
  const tty = process.stderr.isTTY === true && process.stdout.isTTY !== true;
  const started = Date.now();
  let told = started;
  const timer = setInterval(() => {
    const { mailboxes, initialSyncDone } = source.stats();
    if (tty) process.stderr.write(progressLine('initial sync', initialSyncDone, mailboxes));
    else if (Date.now() - told >= 10_000 && initialSyncDone < mailboxes) {
      told = Date.now();
      logger.info({ event: 'initial-sync.progress', mailboxes, done: initialSyncDone }, `initial sync: ${initialSyncDone} of ${mailboxes} mailboxes`);
    }
    if (mailboxes > 0 && initialSyncDone >= mailboxes) {
      clearInterval(timer);
      if (tty) process.stderr.write('\n');
      logger.info({ event: 'initial-sync.done', mailboxes, ms: Date.now() - started }, `initial sync of ${mailboxes} mailboxes done`);
    }
  }, 500);
  timer.unref();
}
