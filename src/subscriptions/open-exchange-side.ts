import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { AdviseMode, EwsSettings, GraphSettings, SyncConfig, SyncItemKind } from '../config/index.js';
import { GraphNotificationChannel, openGraph, openNotificationInbox } from '../graph/index.js';
import { randomBytes } from 'node:crypto';
import type { PositionStore } from '../state/position-store.js';
import type { MailboxStore } from '../exchange/index.js';
import { openEws } from '../ews/open-ews.js';
import { MailboxAutodiscover, type AccountShare } from '../ews/index.js';
import type { Logger } from '../shared/logger.js';
import { budgetOf, CapacityLimitedDirectory, groupSizeOf } from './account-capacity.js';
import { createMailboxChangeSource, type SourceDependencies } from './create-source.js';
import type { MailboxChangeSource } from './mailbox-change-source.js';
import { CsvFileDirectory, type MailboxDirectory, type MailboxHome } from './mailbox-directory.js';
import { HybridSource } from './hybrid-source.js';
import { MailboxPlacement, PlacedDirectory, type HomesOf, type PlacedHome } from './mailbox-placement.js';
import { MailboxRegistry } from './mailbox-registry.js';
import { placedMailboxStore } from './placed-mailbox-store.js';

export type ExchangeProtocol = 'ews' | 'graph';

/** A named check for /readyz: a reason while not ready, else null. */
export interface SideReadiness {
  readonly name: string;
  check(): string | null;
}

/**
 * The Exchange side, opened as <advise> and the connection settings ask: the mailbox store the
 * handlers and verify use, the change source, and what the operator sees of it.
 */
export interface ExchangeSide {
  readonly mode: AdviseMode;
  /** The protocol the mode speaks: the state's ids and positions are this protocol's. */
  readonly protocol: ExchangeProtocol;
  /** Graph: EWS ItemIds of a mailbox as this side's ids (a deployment moving from EWS). */
  readonly translateEwsIds?: (mailbox: string, ewsIds: readonly string[]) => Promise<Map<string, string>>;
  /** Where the mailboxes are reached (logs, status). */
  readonly url: string;
  readonly store: MailboxStore;
  /** What of <sync items> this protocol syncs (EWS: all; Graph: appointments, so far). */
  readonly servedItems: readonly SyncItemKind[];
  /** The Exchange organisation this is (the state records it: another one is refused). */
  readonly identity: string;
  /** Readiness checks of this side (credentials refused, mailboxes over an account's budget). */
  readonly readiness: readonly SideReadiness[];
  /** The mailboxes this side can carry of a directory (an account's budget may leave some out). */
  carried(directory: MailboxDirectory): MailboxDirectory;
  /** Graph and a hybrid organisation: the store of the mailboxes in Exchange Online (a move's target). */
  readonly graphStore?: MailboxStore;
  /** A hybrid organisation: where each mailbox is synced (EWS or Graph). */
  readonly placement?: MailboxPlacement;
  /** Delegate access with several service accounts: each account's budget (the status page). */
  readonly accounts?: () => AccountShare[];
  /** The change source <advise> asks for, over a directory already limited by `carried`. */
  createSource(deps: Omit<SourceDependencies, 'exchange'>): MailboxChangeSource;
  close(): Promise<void>;
}

export interface OpenExchangeSideOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  /** The built-in sandbox standing in for Exchange: its settings (EWS, or Graph with its CA) and organisation. */
  readonly builtIn?: { readonly ews?: EwsSettings; readonly graph?: GraphSettings & { readonly ca: string }; readonly identity: string };
  /** The sync state's positions: a hybrid organisation records there where each mailbox is synced. */
  readonly positions?: PositionStore;
  /** A hybrid organisation: where the CRM says mailboxes live (read when placing them, after the CRM is open). */
  readonly crmHomes?: () => Promise<ReadonlyMap<string, MailboxHome>>;
}

/** Which protocol reaches the mailboxes for each <advise>: the one table that names them. */
const PROTOCOL_OF: Record<AdviseMode, (config: SyncConfig, options: OpenExchangeSideOptions) => ExchangeSide> = {
  EwsStream: openEwsSide,
  EwsPull: openEwsSide,
  GraphDelta: openGraphSide,
  GraphNotify: openGraphSide,
};

/** Opens the Exchange side: one connector per protocol, chosen by <advise>; the core names none. */
export function openExchangeSide(config: SyncConfig, options: OpenExchangeSideOptions): ExchangeSide {
  if (config.exchange.online) return openHybridSide(config, config.exchange.online, options);
  return PROTOCOL_OF[config.exchange.mode](config, options);
}

/**
 * A hybrid organisation (<advise Object="EwsStream" online="GraphNotify"/>): the mailboxes on
 * premises through EWS, those in Exchange Online through Graph, each where the placement puts
 * it; one store and one source to the rest of the sync. The state's identity is the
 * on-premises organisation's (the one its EWS ids were made in).
 */
function openHybridSide(config: SyncConfig, online: 'GraphNotify' | 'GraphDelta', options: OpenExchangeSideOptions): ExchangeSide {
  if (!options.positions) throw new Error('a hybrid organisation needs the sync state (where each mailbox is synced is kept there)');
  const onPremises = openEwsSide(config, options);
  const inCloud = openGraphSide({ ...config, exchange: { ...config.exchange, mode: online } }, options);
  const file = config.exchange.mailboxes.source === 'file' && config.exchange.mailboxes.file ? new CsvFileDirectory(config.exchange.mailboxes.file) : undefined;
  const ewsSettings = options.builtIn?.ews ?? config.exchange.ews;
  const autodiscover = config.exchange.ews.autodiscover?.enabled !== false && ewsSettings.url ? new MailboxAutodiscover(ewsSettings, config.exchange.ews.autodiscover?.url) : undefined;
  const placement = new MailboxPlacement(options.positions, homesOf(file, options.crmHomes, autodiscover, options.logger), options.logger);
  const protocolOf = (mailbox: string): ExchangeProtocol => placement.protocolOf(mailbox);
  return {
    mode: config.exchange.mode, protocol: 'ews', translateEwsIds: inCloud.translateEwsIds, url: `${onPremises.url} and ${inCloud.url}`,
    store: placedMailboxStore(placement, { ews: onPremises.store, graph: inCloud.store }),
    servedItems: onPremises.servedItems.filter((i) => inCloud.servedItems.includes(i)),
    identity: onPremises.identity, placement, graphStore: inCloud.store,
    ...(onPremises.accounts ? { accounts: onPremises.accounts } : {}),
    // read when the service collects them, after `carried` may have added the accounts' capacity
    get readiness() {
      return [...onPremises.readiness, ...inCloud.readiness];
    },
    carried: (directory) => directory,
    createSource: (deps) => {
      const mailboxRegistry = new MailboxRegistry(deps.metrics);
      // a mailbox the on-premises server refuses may have moved to Exchange Online
      const ews = onPremises.createSource({ ...deps, mailboxRegistry, directory: onPremises.carried(new PlacedDirectory(deps.directory!, placement, 'ews')) });
      const graph = inCloud.createSource({ ...deps, onUnavailable: undefined, mailboxRegistry, directory: new PlacedDirectory(deps.directory!, placement, 'graph') });
      return new HybridSource(config.exchange.mode, { ews, graph }, mailboxRegistry, protocolOf);
    },
    close: async () => {
      autodiscover?.close();
      await Promise.all([onPremises.close(), inCloud.close()]);
    },
  };
}

/**
 * Where a hybrid organisation's mailboxes live: the mailbox file's home column, then the CRM's
 * word (the reference CRM's associate.mailbox_home), and for the mailboxes neither says anything
 * of, on-premises Autodiscover. A source out of reach is said once and costs nothing else: those
 * mailboxes stay where the state has them.
 */
function homesOf(file: CsvFileDirectory | undefined, crmHomes: (() => Promise<ReadonlyMap<string, MailboxHome>>) | undefined, autodiscover: MailboxAutodiscover | undefined, logger: Logger): HomesOf {
  const failing = new Set<string>();
  const ask = async <T>(what: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      const answer = await read();
      if (failing.delete(what)) logger.warn({ event: 'placement.source-back', source: what }, `${what} answers again where mailboxes live`);
      return answer;
    } catch (err) {
      if (!failing.has(what)) logger.warn({ err, event: what === 'Autodiscover' ? 'placement.autodiscover-failed' : 'placement.source-failed', source: what, ...(what === 'Autodiscover' ? { url: autodiscover?.url } : {}) }, `asking ${what}${what === 'Autodiscover' ? ` (${autodiscover?.url})` : ''} where mailboxes live failed (${(err as Error).message}); the other sources and the sync state decide meanwhile`);
      failing.add(what);
      return undefined;
    }
  };
  return async (mailboxes) => {
    const out = new Map<string, PlacedHome>();
    if (file) for (const [m, home] of (await ask('the mailbox file', () => file.homes())) ?? []) out.set(m, { home, by: 'the mailbox file' });
    if (crmHomes) for (const [m, home] of (await ask('the CRM', crmHomes)) ?? []) if (!out.has(m)) out.set(m, { home, by: 'the CRM' });
    const unsaid = mailboxes.filter((m) => !out.has(m));
    if (autodiscover && unsaid.length) for (const [m, home] of (await ask('Autodiscover', () => autodiscover.homes(unsaid))) ?? []) out.set(m, { home, by: 'Autodiscover' });
    return out;
  };
}

/** Microsoft Graph (GraphDelta): app-only tokens from Entra ID, the calendar view's delta as the change reader. */
function openGraphSide(config: SyncConfig, options: OpenExchangeSideOptions): ExchangeSide {
  const settings = options.builtIn?.graph ?? config.exchange.graph;
  if (settings.url === null) throw new Error('advise GraphDelta needs <graph> or the built-in sandbox');
  const { http, store } = openGraph(settings, { pastDays: config.sync.windowPastDays, futureDays: config.sync.windowFutureDays });
  const requests: Counter = new Counter({
    name: 'ecs_graph_requests_total', help: 'Requests sent to Microsoft Graph (a $batch counts once)', registers: [options.registry],
    collect: () => { requests.reset(); requests.inc(http.requests); },
  });
  const throttled: Counter = new Counter({
    name: 'ecs_graph_throttled_total', help: 'Times Microsoft Graph answered 429 (Retry-After waited by every request of the app)', registers: [options.registry],
    collect: () => { throttled.reset(); throttled.inc(http.throttled); },
  });
  const tenant = settings.authority.split('/').filter(Boolean).pop() ?? '';
  const servedItems: readonly SyncItemKind[] = ['appointments', 'contacts', 'tasks'];
  // GraphNotify: the webhook Graph delivers to (it starts listening with the first subscription)
  let positions: PositionStore | undefined;
  let secret: Promise<string> | undefined;
  const clientState = (): Promise<string> => (secret ??= loadClientState(positions!));
  const receiver = config.exchange.mode === 'GraphNotify'
    ? openNotificationInbox(settings, clientState, (err) => options.logger.warn({ err, event: 'graph.event-hub-failed' }, `the Event Hub could not be read (${err.message}); the safety poll carries the changes meanwhile`))
    : undefined;
  return {
    mode: config.exchange.mode, protocol: 'graph', translateEwsIds: (mailbox, ids) => store.translateEwsIds(mailbox, ids), url: settings.url, store, graphStore: store, servedItems, identity: options.builtIn?.identity ?? `Microsoft Graph tenant ${tenant.toLowerCase()}`,
    readiness: [{ name: 'exchange-auth', check: () => http.authRefusal() }],
    carried: (directory) => directory,
    // only the folders Graph serves are read
    createSource: (deps) => {
      positions = deps.positions;
      const resources = config.sync.items.includes('contacts') ? ['events', 'contacts'] as const : ['events'] as const;
      const channel = receiver && new GraphNotificationChannel({ http, receiver, clientState, lifetimeMinutes: settings.notify.subscriptionLifetimeMinutes, resources });
      return createMailboxChangeSource({ ...config, sync: { ...config.sync, items: config.sync.items.filter((i) => servedItems.includes(i)) } }, { ...deps, changes: store, ...(channel ? { channel } : {}) });
    },
    close: async () => {
      await receiver?.close();
      await store.close();
    },
  };
}

/**
 * The secret our subscriptions carry (clientState): made once and kept with the state, so the
 * subscriptions a restart renews still match it. Never logged.
 */
async function loadClientState(positions: PositionStore): Promise<string> {
  const saved = await positions.get('graph:clientState');
  if (saved) return saved;
  const made = randomBytes(32).toString('base64url');
  await positions.save('graph:clientState', made);
  return made;
}

/** EWS (EwsStream, EwsPull): impersonation, or delegate access spread over the service accounts' budgets. */
function openEwsSide(config: SyncConfig, options: OpenExchangeSideOptions): ExchangeSide {
  const settings = options.builtIn?.ews ?? config.exchange.ews;
  const budget = budgetOf(config, settings);
  const ews = openEws(settings, {
    registry: options.registry, maxSockets: config.exchange.pull.concurrency + 16, groupSize: groupSizeOf(budget), pulled: config.exchange.mode === 'EwsPull',
    ...(options.builtIn ? { identity: options.builtIn.identity } : {}),
  });
  const readiness: SideReadiness[] = [{ name: 'exchange-auth', check: () => ews.authRefusal() }];
  // with several accounts a streaming group must fit one account's subscriptions
  const sourceConfig = settings.impersonation ? config : { ...config, exchange: { ...config.exchange, stream: { ...config.exchange.stream, maxSubscriptionsPerConnection: groupSizeOf(budget) } } };
  return {
    mode: config.exchange.mode, protocol: 'ews', url: settings.url ?? '', store: ews.exchange, servedItems: ['appointments', 'tasks', 'contacts'], identity: ews.identity, readiness,
    carried: (directory) => {
      if (settings.impersonation) return directory;
      const limited = new CapacityLimitedDirectory(directory, budget, (reason, left) => options.logger.error({ event: 'exchange.capacity', left: left.length, first: left.slice(0, 5) }, reason),
        ews.accounts && ((carried) => ews.accounts!.plan(carried)));
      readiness.push({ name: 'exchange-capacity', check: () => limited.overflow?.reason ?? null });
      return limited;
    },
    createSource: (deps) => createMailboxChangeSource(sourceConfig, { ...deps, exchange: ews.exchange, ...(ews.accounts ? { groupKeyOf: (m: string) => String(ews.accounts!.accountFor(m)) } : {}) }),
    ...(ews.accounts ? { accounts: () => ews.accounts!.budget() } : {}),
    close: () => ews.close(),
  };
}
