import type { Registry } from 'prom-client';
import type { AdviseMode, EwsSettings, SyncConfig } from '../config/index.js';
import type { MailboxStore } from '../exchange/index.js';
import { openEws } from '../ews/open-ews.js';
import type { Logger } from '../shared/logger.js';
import { CapacityLimitedDirectory, groupSizeOf, type AccountBudget } from './account-capacity.js';
import { createMailboxChangeSource, type SourceDependencies } from './create-source.js';
import type { MailboxChangeSource } from './mailbox-change-source.js';
import type { MailboxDirectory } from './mailbox-directory.js';

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
  /** Where the mailboxes are reached (logs, status). */
  readonly url: string;
  readonly store: MailboxStore;
  /** The Exchange organisation this is (the state records it: another one is refused). */
  readonly identity: string;
  /** Readiness checks of this side (credentials refused, mailboxes over an account's budget). */
  readonly readiness: readonly SideReadiness[];
  /** The mailboxes this side can carry of a directory (an account's budget may leave some out). */
  carried(directory: MailboxDirectory): MailboxDirectory;
  /** The change source <advise> asks for, over a directory already limited by `carried`. */
  createSource(deps: Omit<SourceDependencies, 'exchange'>): MailboxChangeSource;
  close(): Promise<void>;
}

export interface OpenExchangeSideOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  /** The built-in sandbox standing in for Exchange: its settings and organisation. */
  readonly builtIn?: { readonly ews: EwsSettings; readonly identity: string };
}

/** Opens the Exchange side: one connector per protocol, chosen by <advise>; the core names none. */
export function openExchangeSide(config: SyncConfig, options: OpenExchangeSideOptions): ExchangeSide {
  return openEwsSide(config, options);
}

/** EWS (EwsStream, EwsPull): impersonation, or delegate access spread over the service accounts' budgets. */
function openEwsSide(config: SyncConfig, options: OpenExchangeSideOptions): ExchangeSide {
  const settings = options.builtIn?.ews ?? config.exchange.ews;
  const budget = budgetOf(config, settings);
  const ews = openEws(settings, {
    registry: options.registry, maxSockets: config.exchange.pull.concurrency + 16, groupSize: groupSizeOf(budget),
    ...(options.builtIn ? { identity: options.builtIn.identity } : {}),
  });
  const readiness: SideReadiness[] = [{ name: 'exchange-auth', check: () => ews.authRefusal() }];
  // with several accounts a streaming group must fit one account's subscriptions
  const sourceConfig = settings.impersonation ? config : { ...config, exchange: { ...config.exchange, stream: { ...config.exchange.stream, maxSubscriptionsPerConnection: groupSizeOf(budget) } } };
  return {
    mode: config.exchange.mode, url: settings.url ?? '', store: ews.exchange, identity: ews.identity, readiness,
    carried: (directory) => {
      if (settings.impersonation) return directory;
      const limited = new CapacityLimitedDirectory(directory, budget, (reason, left) => options.logger.error({ event: 'exchange.capacity', left: left.length, first: left.slice(0, 5) }, reason));
      readiness.push({ name: 'exchange-capacity', check: () => limited.overflow?.reason ?? null });
      return limited;
    },
    createSource: (deps) => createMailboxChangeSource(sourceConfig, { ...deps, exchange: ews.exchange }),
    close: () => ews.close(),
  };
}

/** The service account's budget under delegate access (no impersonation). */
export function budgetOf(config: SyncConfig, ews: EwsSettings): AccountBudget {
  return {
    accounts: [ews.user, ...(ews.accounts ?? []).map((a) => a.user)], mode: config.exchange.mode, maxSubscriptions: ews.maxSubscriptionsPerAccount ?? 20, maxConnections: ews.maxConnectionsPerAccount ?? 10,
    mailboxesPerConnection: config.exchange.stream.maxSubscriptionsPerConnection,
  };
}
