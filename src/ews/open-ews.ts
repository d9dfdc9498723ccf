import type { Registry } from 'prom-client';
import type { EwsSettings } from '../config/index.js';
import { BackoffGate } from '../shared/backoff-gate.js';
import { AccountPool } from './account-pool.js';
import { EwsClient } from './ews-client.js';
import { EwsMetrics } from './ews-metrics.js';
import type { ExchangePort } from './exchange-port.js';
import { exchangeIdentity } from './exchange-identity.js';

/** The EWS side, opened: the store with its change channel, who it is, and whether Exchange refuses our credentials. */
export interface OpenedEws {
  readonly exchange: ExchangePort;
  /** The Exchange organisation this is (the state records it: another one is refused). */
  readonly identity: string;
  /** Delegate access with more accounts: which account carries each mailbox, planned over the whole list. */
  readonly accounts?: AccountPool;
  /** Why Exchange refuses the service account now (for /readyz), or null. */
  authRefusal(): string | null;
  close(): Promise<void>;
}

export interface OpenEwsOptions {
  readonly registry: Registry;
  /** Sockets per account (the pull concurrency and some for the handlers). */
  readonly maxSockets: number;
  /** Mailboxes per streaming group, under delegate access with more accounts. */
  readonly groupSize: number;
  /** EwsPull: no streaming groups (an account carries as many mailboxes as subscriptions). */
  readonly pulled?: boolean;
  /** Instead of the one from the settings (the built-in sandbox's organisation). */
  readonly identity?: string;
}

/**
 * Opens EWS as the settings say: one client (impersonation, or one account), or — delegate
 * access with more accounts ("ranks") — a pool spreading the mailboxes over them within each
 * account's limits. Every client shares one back-off gate: a server that asks us to wait is
 * waited for by all.
 */
export function openEws(settings: EwsSettings, options: OpenEwsOptions): OpenedEws {
  const gate = new BackoffGate();
  const metrics = new EwsMetrics(options.registry);
  const clientOf = (s: EwsSettings): EwsClient => new EwsClient({ settings: s, gate, metrics, maxSockets: options.maxSockets });
  const client: EwsClient | AccountPool = settings.accounts?.length && !settings.impersonation
    ? new AccountPool([clientOf(settings), ...settings.accounts.map((a) => clientOf({ ...settings, user: a.user, passwordEnv: a.passwordEnv, password: a.password }))],
      { maxSubscriptions: settings.maxSubscriptionsPerAccount ?? 20, maxConnections: settings.maxConnectionsPerAccount ?? 10, groupSize: options.groupSize, pulled: options.pulled },
      [settings.user, ...settings.accounts.map((a) => a.user)])
    : clientOf(settings);
  return {
    exchange: client,
    ...(client instanceof AccountPool ? { accounts: client } : {}),
    identity: options.identity ?? exchangeIdentity(settings),
    authRefusal: () => client.authRefusal(),
    close: () => client.close(),
  };
}
