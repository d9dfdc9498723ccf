// The EWS side's port.
export type { ExchangePort, FolderKind, NotificationEvent, StreamMessage, SyncChange, SyncPage, PullEvents, AffinityGroup } from './exchange-port.js';
export { EwsClient } from './ews-client.js';
export { BackoffGate } from '../shared/backoff-gate.js';
export { EwsMetrics } from './ews-metrics.js';
export { toEwsError } from './ews-error.js';
export { escapeXml } from '../shared/xml-escape.js';
export { basicCredentials, credentialsOf, OAuthCredentials, type EwsCredentials, type OAuthSettings } from './ews-credentials.js';
export { AccountPool, type AccountShare } from './account-pool.js';
export { exchangeIdentity } from './exchange-identity.js';
export { openEws, type OpenedEws, type OpenEwsOptions } from './open-ews.js';
export { checkMailbox, explainEwsError, type CheckResult } from './mailbox-check.js';
export { MailboxAutodiscover, autodiscoverUrlOf, type AutodiscoveredHome } from './autodiscover.js';
