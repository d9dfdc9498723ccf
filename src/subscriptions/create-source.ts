import type { Registry } from 'prom-client';
import type { AdviseMode, SyncConfig } from '../config/index.js';
import type { ExchangePort, FolderKind } from '../ews/exchange-port.js';
import type { FolderChangeReader, NotificationChannel } from '../exchange/index.js';
import { PollSource } from './poll-source.js';
import { NotifySource } from './notify-source.js';
import { backoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import type { CrmDirectory } from '../crm-adapter/crm-port.js';
import type { PositionStore } from '../state/position-store.js';
import type { MailboxChangeSource } from './mailbox-change-source.js';
import type { MailboxRegistry } from './mailbox-registry.js';
import { CrmAssociateDirectory, CsvFileDirectory, StaticDirectory, type MailboxDirectory } from './mailbox-directory.js';
import { PullSource, type PullSourceOptions } from './pull-source.js';
import { StreamSource } from './stream-source.js';

const FOLDER_OF_ITEM: Record<string, FolderKind> = { appointments: 'calendar', tasks: 'tasks', contacts: 'contacts' };

export interface SourceDependencies {
  /** EwsStream, EwsPull: the EWS port (its subscriptions and SyncFolderItems). */
  exchange?: ExchangePort;
  /** GraphDelta, GraphNotify: the change reader. */
  changes?: FolderChangeReader;
  /** GraphNotify: the notifications that trigger it. */
  channel?: NotificationChannel;
  positions: PositionStore;
  logger: Logger;
  metrics?: Registry;
  /** Mailbox states shared with another source (a hybrid organisation's two sides). */
  mailboxRegistry?: MailboxRegistry;
  /** Told when Exchange refuses a mailbox (a hybrid organisation follows a mailbox that moved). */
  onUnavailable?: (mailbox: string) => void;
  /** For mailbox source "crm": the CRM's associates. */
  crmDirectory?: CrmDirectory;
  /** Overrides the configured directory (tests). */
  directory?: MailboxDirectory;
  /** The items the sync has mapped in a folder (before a time): a full resync's missing deletes are found with it. */
  knownItems?: (mailbox: string, folder: FolderKind, before: number) => Promise<string[]>;
  /** EwsStream: what the members of a streaming group share besides their server (several service accounts: the account). */
  groupKeyOf?: (mailbox: string) => string;
  /** Tests shorten the long waits. */
  failedRetryMs?: number;
  coalesceMs?: number;
}

export function directoryFor(config: SyncConfig, crmDirectory?: CrmDirectory): MailboxDirectory {
  const m = config.exchange.mailboxes;
  if (m.source === 'list') return new StaticDirectory(m.list);
  if (m.source === 'file') return new CsvFileDirectory(m.file!);
  if (!crmDirectory) throw new Error('mailbox source "crm" needs the CRM');
  return new CrmAssociateDirectory(crmDirectory);
}

type SourceFactory = (config: SyncConfig, deps: SourceDependencies, common: CommonSourceOptions) => MailboxChangeSource;
type CommonSourceOptions = Omit<PullSourceOptions, 'intervalMs' | 'pullConcurrency' | 'subscriptionTimeoutMinutes' | 'exchange'>;

function needs<T>(value: T | undefined, what: string, mode: AdviseMode): T {
  if (value === undefined) throw new Error(`advise ${mode} needs ${what}`);
  return value;
}

/** One factory per <advise Object="…"/>: how the source learns that a folder changed. */
const SOURCE_FACTORIES: Record<AdviseMode, SourceFactory> = {
  EwsPull: (config, deps, common) => new PullSource({
    ...common, exchange: needs(deps.exchange, 'the EWS port', 'EwsPull'), intervalMs: config.exchange.pull.intervalMs, pullConcurrency: config.exchange.pull.concurrency,
    subscriptionTimeoutMinutes: config.exchange.pull.subscriptionTimeoutMinutes,
  }),
  EwsStream: (config, deps, common) => new StreamSource({
    ...common, exchange: needs(deps.exchange, 'the EWS port', 'EwsStream'), maxSubscriptionsPerConnection: config.exchange.stream.maxSubscriptionsPerConnection,
    connectionLifetimeMs: config.exchange.stream.connectionLifetimeMs, heartbeatTimeoutMs: config.exchange.stream.heartbeatTimeoutMs, groupKeyOf: deps.groupKeyOf,
  }),
  GraphDelta: (config, deps, common) => new PollSource('GraphDelta', {
    ...common, changes: needs(deps.changes, 'a change reader', 'GraphDelta'), intervalMs: config.exchange.graph.pollIntervalMs,
  }),
  GraphNotify: (config, deps, common) => new NotifySource('GraphNotify', {
    ...common, changes: needs(deps.changes, 'a change reader', 'GraphNotify'), channel: needs(deps.channel, 'a notification channel', 'GraphNotify'),
    intervalMs: config.exchange.graph.notify.safetyPollMs,
    // what no notification tells of (To Do) is read as GraphDelta reads it
    polled: { folders: (['calendar', 'tasks', 'contacts'] as const).filter((f) => !deps.channel!.folders.includes(f)), intervalMs: config.exchange.graph.pollIntervalMs },
  }),
};

/** The MailboxChangeSource that <advise Object="…"/> asks for. */
export function createMailboxChangeSource(config: SyncConfig, deps: SourceDependencies): MailboxChangeSource {
  const common: CommonSourceOptions = {
    positions: deps.positions,
    directory: deps.directory ?? directoryFor(config, deps.crmDirectory),
    logger: deps.logger.child({ component: 'subscriptions' }),
    metrics: deps.metrics,
    mailboxRegistry: deps.mailboxRegistry,
    onUnavailable: deps.onUnavailable,
    folders: config.sync.items.map((i) => FOLDER_OF_ITEM[i]),
    windowPastDays: config.sync.windowPastDays,
    windowFutureDays: config.sync.windowFutureDays,
    refreshMs: config.exchange.mailboxes.refreshMs,
    concurrency: config.exchange.pull.concurrency,
    retryPolicy: backoffPolicy({ initialMs: 500, maxMs: 60_000 }),
    failedRetryMs: deps.failedRetryMs ?? 10 * 60_000,
    coalesceMs: deps.coalesceMs ?? 50,
    knownItems: deps.knownItems, snapshotDeletes: config.sync.snapshotDeletes,
  };
  return SOURCE_FACTORIES[config.exchange.mode](config, deps, common);
}
