import * as k from './setting-kinds.js';
import type { SettingKind } from './setting-kinds.js';

/**
 * Every setting of CalendarSyncExchange.config.xml in one table: where it stands in the
 * file (element path under <calendar_sync>, attribute), the environment variable that
 * overrides it, what it allows and its default. The convict schema, the strict XML walk,
 * the README reference and the error messages are all derived from this table.
 */
export interface SettingSpec {
  /** The convict key, also the path into the raw settings object. */
  readonly key: string;
  /** Element path below calendar_sync, e.g. "exchange/events/advise". */
  readonly element: string;
  /** Attribute name, or null for the text of repeated elements (<mailbox>). */
  readonly attribute: string | null;
  readonly env: string;
  readonly kind: SettingKind<unknown>;
  readonly default: unknown;
  readonly doc: string;
  readonly sensitive?: boolean;
  /** An attribute of an element that may appear several times: its values, in order, as a list. */
  readonly repeated?: boolean;
  /**
   * An optional attribute of a repeated text element (<mailbox direction="…">address</mailbox>):
   * its values as "text=value" pairs, for the elements that have it.
   */
  readonly perText?: boolean;
}

const MINUTE = 60_000;

export const SETTINGS: readonly SettingSpec[] = [
  // <exchange><events>
  {
    key: 'exchange.events.advise', element: 'exchange/events/advise', attribute: 'Object', env: 'ECS_ADVISE',
    kind: k.oneOf(['EwsStream', 'EwsPull', 'GraphDelta', 'GraphNotify'] as const, { EWStream: 'EwsStream', EWSPull: 'EwsPull' }), default: 'EwsStream',
    doc: 'How changes are learned: EwsStream (streaming notifications, one long-lived connection per group of up to 200 mailboxes), EwsPull (GetEvents polling), GraphNotify (Microsoft Graph, Exchange Online: change notifications to a webhook trigger the calendar view\'s delta query, with a safety poll) or GraphDelta (Graph\'s delta query every graph@pollInterval, no inbound endpoint); over Graph appointments, series, To Do tasks (always polled), contacts and selections. Case-insensitive; EWStream/EWSPull are accepted too.',
  },
  {
    key: 'exchange.events.online', element: 'exchange/events/advise', attribute: 'online', env: 'ECS_ADVISE_ONLINE',
    kind: k.oneOf(['none', 'GraphNotify', 'GraphDelta'] as const), default: 'none',
    doc: 'A hybrid organisation: with advise EwsStream or EwsPull for the mailboxes on premises, the mode for those in Exchange Online (GraphNotify or GraphDelta; needs both <ews> and <graph>). Each mailbox is synced where it lives: the home column of the mailbox file (on-premises, online), else where the sync state last had it, else on premises; `migrate --to graph` moves mailboxes. none: one protocol for all.',
  },
  {
    key: 'exchange.events.pull.interval', element: 'exchange/events/pull', attribute: 'interval', env: 'ECS_PULL_INTERVAL',
    kind: k.duration(1_000, 60 * MINUTE), default: 10_000, doc: 'EwsPull: how often each mailbox is asked for events.',
  },
  {
    key: 'exchange.events.pull.concurrency', element: 'exchange/events/pull', attribute: 'concurrency', env: 'ECS_PULL_CONCURRENCY',
    kind: k.integer(1, 1_000), default: 32, doc: 'EwsPull: GetEvents requests in flight at once, across all mailboxes.',
  },
  {
    key: 'exchange.events.pull.timeout', element: 'exchange/events/pull', attribute: 'timeout', env: 'ECS_PULL_SUBSCRIPTION_TIMEOUT',
    kind: k.duration(MINUTE, 1_440 * MINUTE, 'EWS allows 1 to 1440 minutes'), default: 30 * MINUTE,
    doc: 'EwsPull: the subscription Timeout; Exchange drops a pull subscription not polled for this long.',
  },
  {
    key: 'exchange.events.stream.maxSubscriptionsPerConnection', element: 'exchange/events/stream', attribute: 'maxSubscriptionsPerConnection',
    env: 'ECS_STREAM_MAX_SUBSCRIPTIONS', kind: k.integer(1, 200, 'EWS allows at most 200 subscriptions per streaming connection'), default: 200,
    doc: 'EwsStream: mailboxes (subscriptions) per GetStreamingEvents connection.',
  },
  {
    key: 'exchange.events.stream.connectionLifetime', element: 'exchange/events/stream', attribute: 'connectionLifetime',
    env: 'ECS_STREAM_CONNECTION_LIFETIME', kind: k.duration(MINUTE, 30 * MINUTE, 'EWS allows 1 to 30 minutes'), default: 29 * MINUTE,
    doc: 'EwsStream: the ConnectionTimeout of each streaming connection; it is reopened before it runs out.',
  },
  {
    key: 'exchange.events.stream.heartbeatTimeout', element: 'exchange/events/stream', attribute: 'heartbeatTimeout',
    env: 'ECS_STREAM_HEARTBEAT_TIMEOUT', kind: k.duration(5_000, 10 * MINUTE), default: 90_000,
    doc: 'EwsStream: a connection silent (no keep-alive) for this long is considered dead and reopened.',
  },
  // <exchange><ews>
  {
    key: 'exchange.ews.url', element: 'exchange/ews', attribute: 'url', env: 'ECS_EWS_URL',
    kind: k.url(['https', 'http']), default: '', doc: 'The EWS endpoint. Without an <ews> element the built-in EWS sandbox is used.',
  },
  {
    key: 'exchange.ews.user', element: 'exchange/ews', attribute: 'user', env: 'ECS_EWS_USER',
    kind: k.text(/^\S+$/, 'a user name without spaces (UPN or DOMAIN\\user)'), default: '', doc: 'The service account (it needs the ApplicationImpersonation role).',
  },
  {
    key: 'exchange.ews.passwordEnv', element: 'exchange/ews', attribute: 'passwordEnv', env: 'ECS_EWS_PASSWORD_ENV',
    kind: k.envName, default: 'ECS_EWS_PASSWORD', doc: "Name of the environment variable holding the service account's password; the file never holds it.",
  },
  {
    key: 'exchange.ews.impersonation', element: 'exchange/ews', attribute: 'impersonation', env: 'ECS_EWS_IMPERSONATION',
    kind: k.boolean, default: true, doc: 'Reach each mailbox through ExchangeImpersonation (its budget carries the load). "false": delegate access (FullAccess on each mailbox), every subscription and streaming connection charged to the service account — see maxSubscriptionsPerAccount.',
  },
  {
    key: 'exchange.ews.accountUsers', element: 'exchange/ews/account', attribute: 'user', env: 'ECS_EWS_ACCOUNT_USERS', repeated: true,
    kind: k.textList(/^[^\s,]+$/, 'a user name without spaces or commas'), default: [],
    doc: 'impersonation="false": more service accounts ("ranks"), each <account user="…" passwordEnv="…"/> with FullAccess on the mailboxes; mailboxes are spread over <ews user> and these so none exceeds its limits.',
  },
  {
    key: 'exchange.ews.accountPasswordEnvs', element: 'exchange/ews/account', attribute: 'passwordEnv', env: 'ECS_EWS_ACCOUNT_PASSWORD_ENVS', repeated: true,
    kind: k.textList(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), default: [], doc: "Each <account>'s environment variable holding its password.",
  },
  {
    key: 'exchange.ews.maxSubscriptionsPerAccount', element: 'exchange/ews', attribute: 'maxSubscriptionsPerAccount', env: 'ECS_EWS_MAX_SUBSCRIPTIONS_PER_ACCOUNT',
    kind: k.integer(1, 1_000_000), default: 20,
    doc: 'impersonation="false": the account\'s EWSMaxSubscriptions (Exchange Online 20; Exchange 2016/2019 5000 unless its throttling policy says otherwise). One subscription per mailbox.',
  },
  {
    key: 'exchange.ews.maxConnectionsPerAccount', element: 'exchange/ews', attribute: 'maxConnectionsPerAccount', env: 'ECS_EWS_MAX_CONNECTIONS_PER_ACCOUNT',
    kind: k.integer(1, 100_000), default: 10, doc: 'impersonation="false", EwsStream: the account\'s HangingConnectionLimit (10 by default; up to 200 mailboxes per connection).',
  },
  {
    key: 'exchange.ews.version', element: 'exchange/ews', attribute: 'version', env: 'ECS_EWS_VERSION',
    kind: k.oneOf(['Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2016'] as const), default: 'Exchange2016',
    doc: 'RequestServerVersion sent with every request.',
  },
  {
    key: 'exchange.ews.auth', element: 'exchange/ews', attribute: 'auth', env: 'ECS_EWS_AUTH',
    kind: k.oneOf(['basic', 'ntlm', 'oauth'] as const), default: 'basic',
    doc: 'basic or ntlm (Windows authentication, what Exchange 2016/2019 offer out of the box; user as DOMAIN\\user): user and the password in passwordEnv. oauth: an app-only token by client credentials (Exchange Online, hybrid modern auth), with tenant, clientId and clientSecretEnv or certificateFile.',
  },
  {
    key: 'exchange.ews.authority', element: 'exchange/ews', attribute: 'authority', env: 'ECS_EWS_AUTHORITY',
    kind: k.url(['https']), default: 'https://login.microsoftonline.com', doc: 'auth="oauth": the token issuer; the tenant is appended (AD FS: its /adfs URL with tenant="adfs").',
  },
  {
    key: 'exchange.ews.tenant', element: 'exchange/ews', attribute: 'tenant', env: 'ECS_EWS_TENANT',
    kind: k.text(/^[A-Za-z0-9.-]+$/, 'a tenant id or domain (contoso.onmicrosoft.com)'), default: '', doc: 'auth="oauth": the Entra ID tenant (its id or a verified domain).',
  },
  {
    key: 'exchange.ews.clientId', element: 'exchange/ews', attribute: 'clientId', env: 'ECS_EWS_CLIENT_ID',
    kind: k.text(/^\S+$/, 'the application (client) id'), default: '', doc: 'auth="oauth": the app registration with the full_access_as_app application permission.',
  },
  {
    key: 'exchange.ews.clientSecretEnv', element: 'exchange/ews', attribute: 'clientSecretEnv', env: 'ECS_EWS_CLIENT_SECRET_ENV',
    kind: k.envName, default: 'ECS_EWS_CLIENT_SECRET', doc: "auth=\"oauth\" without certificateFile: name of the environment variable holding the app's client secret.",
  },
  {
    key: 'exchange.ews.certificateFile', element: 'exchange/ews', attribute: 'certificateFile', env: 'ECS_EWS_CERTIFICATE_FILE',
    kind: k.text(/^.+$/, 'a file path'), default: '', doc: "auth=\"oauth\": a PEM file with the app's certificate and private key; the app proves itself with a signed assertion (recommended over a secret).",
  },
  {
    key: 'exchange.ews.scope', element: 'exchange/ews', attribute: 'scope', env: 'ECS_EWS_SCOPE',
    kind: k.url(['https']), default: 'https://outlook.office365.com/.default', doc: 'auth="oauth": the scope asked for (on premises with hybrid modern auth: https://<your EWS host>/.default).',
  },
  {
    key: 'exchange.ews.caFile', element: 'exchange/ews', attribute: 'caFile', env: 'ECS_EWS_CA_FILE',
    kind: k.text(/^.+$/, 'a file path'), default: '', doc: 'A PEM file of extra CA certificates trusted for the token endpoint (a TLS-inspecting proxy, a private AD FS).',
  },
  {
    key: 'exchange.ews.tlsVerify', element: 'exchange/ews', attribute: 'tlsVerify', env: 'ECS_EWS_TLS_VERIFY',
    kind: k.boolean, default: true, doc: "Verify the server's TLS certificate. Turn off only for a test server, explicitly.",
  },
  {
    key: 'exchange.ews.timeout', element: 'exchange/ews', attribute: 'timeout', env: 'ECS_EWS_TIMEOUT',
    kind: k.duration(1_000, 10 * MINUTE), default: 100_000, doc: 'Deadline of one EWS request: its whole answer, headers and body, must arrive within it (a streaming connection has stream@heartbeatTimeout instead).',
  },
  {
    key: 'exchange.ews.autodiscover', element: 'exchange/ews', attribute: 'autodiscover', env: 'ECS_EWS_AUTODISCOVER',
    kind: k.boolean, default: true, doc: 'A hybrid organisation (<advise online=…>): ask on-premises Autodiscover (SOAP GetUserSettings, 100 mailboxes a request, answers kept 15 minutes) where mailboxes without a home in the mailbox file live; a mailbox Exchange moved online is redirected to its tenant address.',
  },
  {
    key: 'exchange.ews.autodiscoverUrl', element: 'exchange/ews', attribute: 'autodiscoverUrl', env: 'ECS_EWS_AUTODISCOVER_URL',
    kind: k.url(['https', 'http']), default: '', doc: 'The SOAP Autodiscover service; default: /autodiscover/autodiscover.svc on the EWS host (else typically https://autodiscover.<your domain>/autodiscover/autodiscover.svc).',
  },
  // <exchange><graph>
  {
    key: 'exchange.graph.url', element: 'exchange/graph', attribute: 'url', env: 'ECS_GRAPH_URL',
    kind: k.url(['https']), default: 'https://graph.microsoft.com/v1.0', doc: 'Microsoft Graph v1.0 (national clouds have their own). Without a <graph> element, advise GraphDelta runs on the built-in sandbox\'s Graph endpoint.',
  },
  {
    key: 'exchange.graph.authority', element: 'exchange/graph', attribute: 'authority', env: 'ECS_GRAPH_AUTHORITY',
    kind: k.url(['https']), default: 'https://login.microsoftonline.com', doc: 'The token issuer; the tenant is appended.',
  },
  {
    key: 'exchange.graph.tenant', element: 'exchange/graph', attribute: 'tenant', env: 'ECS_GRAPH_TENANT',
    kind: k.text(/^[A-Za-z0-9.-]+$/, 'a tenant id or domain (contoso.onmicrosoft.com)'), default: '', doc: 'The Entra ID tenant (its id or a verified domain).',
  },
  {
    key: 'exchange.graph.clientId', element: 'exchange/graph', attribute: 'clientId', env: 'ECS_GRAPH_CLIENT_ID',
    kind: k.text(/^\S+$/, 'the application (client) id'), default: '', doc: 'The app registration with the application permissions Calendars.ReadWrite, Contacts.ReadWrite and Tasks.ReadWrite.All, admin consented.',
  },
  {
    key: 'exchange.graph.clientSecretEnv', element: 'exchange/graph', attribute: 'clientSecretEnv', env: 'ECS_GRAPH_CLIENT_SECRET_ENV',
    kind: k.envName, default: 'ECS_GRAPH_CLIENT_SECRET', doc: "Without certificateFile: name of the environment variable holding the app's client secret.",
  },
  {
    key: 'exchange.graph.certificateFile', element: 'exchange/graph', attribute: 'certificateFile', env: 'ECS_GRAPH_CERTIFICATE_FILE',
    kind: k.text(/^.+$/, 'a file path'), default: '', doc: "A PEM file with the app's certificate and private key (recommended over a secret).",
  },
  {
    key: 'exchange.graph.caFile', element: 'exchange/graph', attribute: 'caFile', env: 'ECS_GRAPH_CA_FILE',
    kind: k.text(/^.+$/, 'a file path'), default: '', doc: 'A PEM file of extra CA certificates trusted for Graph and its token endpoint (a TLS-inspecting proxy). Certificates are always verified.',
  },
  {
    key: 'exchange.graph.timeout', element: 'exchange/graph', attribute: 'timeout', env: 'ECS_GRAPH_TIMEOUT',
    kind: k.duration(1_000, 10 * MINUTE), default: 100_000, doc: 'Deadline of one Graph request, headers and body.',
  },
  {
    key: 'exchange.graph.pollInterval', element: 'exchange/graph', attribute: 'pollInterval', env: 'ECS_GRAPH_POLL_INTERVAL',
    kind: k.duration(5_000, 24 * 60 * MINUTE), default: 60_000,
    doc: 'GraphDelta: how often each mailbox\'s delta is read (GraphNotify: how often its To Do tasks are, which Graph notifies no app of). Outlook lets an app have 4 requests under way across all mailboxes: at ~100 ms a request that is ~40 mailboxes a second, so 10,000 mailboxes need an interval of 5 minutes or more.',
  },
  {
    key: 'exchange.graph.notify', element: 'exchange/graph', attribute: 'notify', env: 'ECS_GRAPH_NOTIFY',
    kind: k.oneOf(['webhook', 'eventhub'] as const), default: 'webhook',
    doc: 'GraphNotify: how notifications arrive: webhook (Graph POSTs to notificationUrl, forwarded to listen) or eventhub (Graph writes them to an Azure Event Hub, read through its Kafka endpoint: no inbound port at all).',
  },
  {
    key: 'exchange.graph.eventHubUrl', element: 'exchange/graph', attribute: 'eventHubUrl', env: 'ECS_GRAPH_EVENT_HUB_URL',
    kind: k.text(/^EventHub:https:\/\/\S+\/secrets\/\S+$/i, 'EventHub:https://<key vault>.vault.azure.net/secrets/<secret>?tenantId=<tenant domain>'), default: '',
    doc: 'notify="eventhub": the notificationUrl Graph is given — the Azure Key Vault secret holding the Event Hub\'s send connection string (change-notifications-delivery-event-hubs.md).',
  },
  {
    key: 'exchange.graph.eventHubConnectionStringEnv', element: 'exchange/graph', attribute: 'eventHubConnectionStringEnv', env: 'ECS_GRAPH_EVENT_HUB_CONNECTION_STRING_ENV',
    kind: k.envName, default: 'ECS_GRAPH_EVENT_HUB_CONNECTION_STRING',
    doc: 'notify="eventhub": name of the environment variable holding the Event Hub connection string the sync listens with (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=<hub>; a Listen policy of its own).',
  },
  {
    key: 'exchange.graph.eventHubTls', element: 'exchange/graph', attribute: 'eventHubTls', env: 'ECS_GRAPH_EVENT_HUB_TLS',
    kind: k.boolean, default: true, doc: 'notify="eventhub": TLS (verified) and SASL to the Event Hubs Kafka endpoint, as Azure requires. "false" only for a plain Kafka broker standing in for it (the sandbox), explicitly.',
  },
  {
    key: 'exchange.graph.listen', element: 'exchange/graph', attribute: 'listen', env: 'ECS_GRAPH_LISTEN',
    kind: k.hostPort, default: '127.0.0.1:0', doc: 'GraphNotify: the webhook\'s listener (host:port; port 0: any free port, for the built-in sandbox).',
  },
  {
    key: 'exchange.graph.notificationUrl', element: 'exchange/graph', attribute: 'notificationUrl', env: 'ECS_GRAPH_NOTIFICATION_URL',
    kind: k.url(['https']), default: '', doc: 'GraphNotify: the public https address Graph POSTs to (a reverse proxy forwarding /graph/notifications and /graph/lifecycle to listen). Default: the listener itself (loopback only).',
  },
  {
    key: 'exchange.graph.subscriptionLifetime', element: 'exchange/graph', attribute: 'subscriptionLifetime', env: 'ECS_GRAPH_SUBSCRIPTION_LIFETIME',
    kind: k.duration(5 * MINUTE, 10_080 * MINUTE, 'Outlook allows at most 10080 minutes (7 days) for events'), default: 4_320 * MINUTE,
    doc: 'GraphNotify: the life asked for each subscription; it is renewed when a third is left.',
  },
  {
    key: 'exchange.graph.safetyPoll', element: 'exchange/graph', attribute: 'safetyPoll', env: 'ECS_GRAPH_SAFETY_POLL',
    kind: k.duration(10_000, 24 * 60 * MINUTE), default: 15 * MINUTE,
    doc: 'GraphNotify: every mailbox is read this often whatever the notifications said — the most a lost notification can delay a change.',
  },
  // <exchange><mailboxes>
  {
    key: 'exchange.mailboxes.source', element: 'exchange/mailboxes', attribute: 'source', env: 'ECS_MAILBOX_SOURCE',
    kind: k.oneOf(['crm', 'list', 'file'] as const), default: 'crm',
    doc: "Which mailboxes to sync: crm (the CRM's active associates' e-mail addresses), list (the <mailbox> elements) or file (a CSV file). Implied by <mailbox> children or a file attribute.",
  },
  {
    key: 'exchange.mailboxes.file', element: 'exchange/mailboxes', attribute: 'file', env: 'ECS_MAILBOX_FILE',
    kind: k.text(undefined, 'a file path'), default: '', doc: 'CSV file with one mailbox address per line (first column; a header line is skipped), relative to the config file.',
  },
  {
    key: 'exchange.mailboxes.refresh', element: 'exchange/mailboxes', attribute: 'refresh', env: 'ECS_MAILBOX_REFRESH',
    kind: k.duration(5_000, 24 * 60 * MINUTE), default: 60_000, doc: 'How often the mailbox list is read again; added and removed mailboxes follow without a restart.',
  },
  {
    key: 'exchange.mailboxes.list', element: 'exchange/mailboxes/mailbox', attribute: null, env: 'ECS_MAILBOXES',
    kind: k.emailList, default: [], doc: 'One <mailbox>address</mailbox> per mailbox (source list). From the environment: comma-separated.',
  },
  {
    key: 'exchange.mailboxes.directions', element: 'exchange/mailboxes/mailbox', attribute: 'direction', env: 'ECS_MAILBOX_DIRECTIONS', perText: true,
    kind: k.mailboxDirections, default: [],
    doc: 'One mailbox\'s direction (two-way, to-crm, to-exchange or off), over the CRM\'s word and <sync direction>: <mailbox direction="to-crm">ann@contoso.com</mailbox>. From the environment: address=direction, comma-separated.',
  },
  // <crm>
  {
    key: 'crm.type', element: 'crm', attribute: 'type', env: 'ECS_CRM_TYPE',
    kind: k.oneOf(['embedded', 'postgres', 'superoffice'] as const), default: 'embedded',
    doc: 'embedded (the reference CRM in PGlite in a local folder, the npm start default), postgres (the reference CRM on a PostgreSQL server) or superoffice (SuperOffice CRM\'s Web API; without url, the built-in SuperOffice simulator).',
  },
  {
    key: 'crm.url', element: 'crm', attribute: 'url', env: 'ECS_CRM_URL',
    kind: k.url(['postgres', 'postgresql', 'https', 'http']), default: '', sensitive: true,
    doc: 'postgres: connection URL (a password belongs in passwordEnv or PGPASSWORD, not here). superoffice: the tenant\'s Web API, https://…/api/v1.',
  },
  {
    key: 'crm.passwordEnv', element: 'crm', attribute: 'passwordEnv', env: 'ECS_CRM_PASSWORD_ENV',
    kind: k.envName, default: '', doc: "postgres: name of the environment variable holding the database password. superoffice: the one holding the API user's password (Basic authentication).",
  },
  {
    key: 'crm.user', element: 'crm', attribute: 'user', env: 'ECS_CRM_USER',
    kind: k.text(/^\S+$/, 'a user name without spaces'), default: '', doc: 'superoffice: the API user (a system user of its own; its associate id tells the sync\'s own writes from users\' ones).',
  },
  {
    key: 'crm.ticketEnv', element: 'crm', attribute: 'ticketEnv', env: 'ECS_CRM_TICKET_ENV',
    kind: k.envName, default: '', doc: 'superoffice: instead of user and password, the environment variable holding a SOTICKET credential (7T:…).',
  },
  {
    key: 'crm.tokenEnv', element: 'crm', attribute: 'tokenEnv', env: 'ECS_CRM_TOKEN_ENV',
    kind: k.envName, default: '', doc: 'superoffice: instead of user and password, the environment variable holding a SuperId access token (Bearer 7A:…, SuperOffice Online).',
  },
  {
    key: 'crm.appTokenEnv', element: 'crm', attribute: 'appTokenEnv', env: 'ECS_CRM_APP_TOKEN_ENV',
    kind: k.envName, default: '', doc: 'superoffice: the environment variable holding the application token sent as SO-AppToken (SuperOffice Online, server to server).',
  },
  {
    key: 'crm.webhookListen', element: 'crm', attribute: 'webhookListen', env: 'ECS_CRM_WEBHOOK_LISTEN',
    kind: k.optional(k.hostPort), default: '', doc: 'superoffice: where this instance receives SuperOffice\'s webhooks (host:port). Without it changes are found by polling only.',
  },
  {
    key: 'crm.webhookUrl', element: 'crm', attribute: 'webhookUrl', env: 'ECS_CRM_WEBHOOK_URL',
    kind: k.url(['https', 'http']), default: '', doc: 'superoffice: the address SuperOffice POSTs webhooks to — reachable from SuperOffice, forwarded to webhookListen (default: webhookListen itself).',
  },
  {
    key: 'crm.webhookSecretEnv', element: 'crm', attribute: 'webhookSecretEnv', env: 'ECS_CRM_WEBHOOK_SECRET_ENV',
    kind: k.envName, default: 'ECS_SUPEROFFICE_WEBHOOK_SECRET', doc: 'superoffice: the environment variable holding the webhook secret (every webhook is checked with HMAC-SHA256 of it; a bad signature is refused).',
  },
  {
    key: 'crm.reconcileInterval', element: 'crm', attribute: 'reconcileInterval', env: 'ECS_CRM_RECONCILE_INTERVAL',
    kind: k.duration(5_000, 24 * 60 * MINUTE), default: 5 * MINUTE, doc: 'superoffice: how often the records the sync has mapped are checked against the CRM, so a delete whose webhook was lost is still seen.',
  },
  {
    key: 'crm.foreignApp', element: 'crm', attribute: 'foreignApp', env: 'ECS_CRM_FOREIGN_APP',
    kind: k.text(/^[A-Za-z0-9._-]+$/, 'a name (letters, digits, . _ -)'), default: 'ExchangeCrmSync', doc: 'superoffice: the foreign application name of the keys the sync stamps on records it creates.',
  },
  {
    key: 'crm.directionField', element: 'crm', attribute: 'directionField', env: 'ECS_CRM_DIRECTION_FIELD',
    kind: k.text(/^(personUdef\/[^\s,]+|personExtra\/x_[A-Za-z0-9_]+)$/, 'a Person archive column of a user-defined field (personUdef/SuperOffice:7, or personUdef/<ProgId>) or of an extra field (personExtra/x_calendar_sync)'), default: '',
    doc: 'superoffice: the person field a CRM administrator sets on a user\'s own person card to say which way that user\'s mailbox is synced — a text or list user-defined field or extra field holding two-way, to-crm, to-exchange or off ("To CRM" and the like are read too; empty: not set). Read in one archive query per thousand users with every listing of the mailboxes. Empty: SuperOffice names no directions.',
  },
  {
    key: 'crm.tlsVerify', element: 'crm', attribute: 'tlsVerify', env: 'ECS_CRM_TLS_VERIFY',
    kind: k.boolean, default: true, doc: "superoffice: verify the server's TLS certificate. Turn off only for a test server, explicitly.",
  },
  {
    key: 'crm.schema', element: 'crm', attribute: 'schema', env: 'ECS_CRM_SCHEMA',
    kind: k.identifier, default: 'crm', doc: "The CRM's schema (the reference CRM's tables)."
  },
  {
    key: 'crm.stateSchema', element: 'crm', attribute: 'stateSchema', env: 'ECS_STATE_SCHEMA',
    kind: k.identifier, default: 'ecs_state', doc: "The sync's own state (mappings, positions, embedded log) — kept apart from the CRM's tables.",
  },
  {
    key: 'crm.pollInterval', element: 'crm', attribute: 'pollInterval', env: 'ECS_CRM_POLL_INTERVAL',
    kind: k.duration(100, 10 * MINUTE), default: 1_000, doc: "How often the CRM's changes are read when nothing wakes the reader (PostgreSQL and PGlite NOTIFY on every change; SuperOffice sends webhooks). With SuperOffice, a dropped webhook delays a change by at most this.",
  },
  {
    key: 'crm.path', element: 'crm', attribute: 'path', env: 'ECS_CRM_PATH',
    kind: k.text(undefined, 'a folder path'), default: 'data/crm', doc: 'embedded: the data folder, relative to the working directory.',
  },
  // <state>
  {
    key: 'state.type', element: 'state', attribute: 'type', env: 'ECS_STATE_TYPE',
    kind: k.oneOf(['shared', 'embedded', 'postgres'] as const), default: 'shared',
    doc: "Where the sync keeps its own state (mappings, positions): shared (in the reference CRM's database, in crm@stateSchema), embedded (PGlite in state@path) or postgres (state@url).",
  },
  {
    key: 'state.url', element: 'state', attribute: 'url', env: 'ECS_STATE_URL',
    kind: k.url(['postgres', 'postgresql']), default: '', sensitive: true, doc: 'postgres: connection URL of the state database. A password belongs in passwordEnv or PGPASSWORD, not here.',
  },
  {
    key: 'state.passwordEnv', element: 'state', attribute: 'passwordEnv', env: 'ECS_STATE_PASSWORD_ENV',
    kind: k.envName, default: '', doc: 'postgres: name of the environment variable holding the state database password.',
  },
  {
    key: 'state.path', element: 'state', attribute: 'path', env: 'ECS_STATE_PATH',
    kind: k.text(undefined, 'a folder path'), default: 'data/state', doc: 'embedded: the data folder of the state database, relative to the working directory.',
  },
  {
    key: 'state.poolSize', element: 'state', attribute: 'poolSize', env: 'ECS_STATE_POOL_SIZE',
    kind: k.integer(1, 500), default: 10,
    doc: 'PostgreSQL connections the sync opens (to the CRM database when the state is shared). A handler holds one only for a statement, never while it waits for Exchange or the CRM.',
  },
  // <transport>
  {
    key: 'transport.type', element: 'transport', attribute: 'type', env: 'ECS_TRANSPORT',
    kind: k.oneOf(['embedded', 'kafka'] as const), default: 'embedded', doc: 'embedded (a durable log in the embedded database; one instance) or kafka.',
  },
  {
    key: 'transport.brokers', element: 'transport', attribute: 'brokers', env: 'ECS_KAFKA_BROKERS',
    kind: k.hostPortList, default: [], doc: 'kafka: bootstrap servers, host:port,host:port.',
  },
  {
    key: 'transport.topicPrefix', element: 'transport', attribute: 'topicPrefix', env: 'ECS_TOPIC_PREFIX',
    kind: k.text(/^[A-Za-z0-9._-]*$/, 'a topic name prefix (letters, digits, . _ -)'), default: 'ecs.', doc: 'Prefix of every topic: <prefix>exchange.changes, <prefix>crm.changes, their .dlq.',
  },
  {
    key: 'transport.partitions', element: 'transport', attribute: 'partitions', env: 'ECS_KAFKA_PARTITIONS',
    kind: k.integer(1, 10_000), default: 12, doc: 'Partitions of topics the sync creates; the upper bound of useful instances.',
  },
  {
    key: 'transport.replicationFactor', element: 'transport', attribute: 'replicationFactor', env: 'ECS_KAFKA_REPLICATION_FACTOR',
    kind: k.integer(1, 10), default: 1, doc: 'kafka: replication factor of topics the sync creates.',
  },
  {
    key: 'transport.clientId', element: 'transport', attribute: 'clientId', env: 'ECS_KAFKA_CLIENT_ID',
    kind: k.text(/^[A-Za-z0-9._-]+$/, 'a client id (letters, digits, . _ -)'), default: 'exchange-crm-sync', doc: 'kafka: client.id, as the broker logs and quotas see it.',
  },
  {
    key: 'transport.ssl', element: 'transport', attribute: 'ssl', env: 'ECS_KAFKA_SSL',
    kind: k.boolean, default: false, doc: 'kafka: connect with TLS.',
  },
  {
    key: 'transport.tlsVerify', element: 'transport', attribute: 'tlsVerify', env: 'ECS_KAFKA_TLS_VERIFY',
    kind: k.boolean, default: true, doc: "kafka: verify the brokers' certificates (with ssl). Turn off only explicitly.",
  },
  {
    key: 'transport.saslMechanism', element: 'transport', attribute: 'saslMechanism', env: 'ECS_KAFKA_SASL_MECHANISM',
    kind: k.oneOf(['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const), default: 'none', doc: 'kafka: SASL mechanism.',
  },
  {
    key: 'transport.saslUser', element: 'transport', attribute: 'saslUser', env: 'ECS_KAFKA_SASL_USER',
    kind: k.text(), default: '', doc: 'kafka: SASL user name.',
  },
  {
    key: 'transport.saslPasswordEnv', element: 'transport', attribute: 'saslPasswordEnv', env: 'ECS_KAFKA_SASL_PASSWORD_ENV',
    kind: k.envName, default: 'ECS_KAFKA_SASL_PASSWORD', doc: 'kafka: name of the environment variable holding the SASL password.',
  },
  {
    key: 'transport.compression', element: 'transport', attribute: 'compression', env: 'ECS_KAFKA_COMPRESSION',
    kind: k.oneOf(['none', 'gzip'] as const), default: 'none',
    doc: 'kafka: compression of produced batches. A batch of envelopes (similar JSON) shrinks several-fold with gzip, for CPU time on both ends; choose gzip when the network or broker disk is scarcer than CPU.',
  },
  {
    key: 'transport.path', element: 'transport', attribute: 'path', env: 'ECS_LOG_PATH',
    kind: k.text(undefined, 'a folder path'), default: 'data/log', doc: 'embedded: the data folder of the embedded log, relative to the working directory.',
  },
  // <sync>
  {
    key: 'sync.items', element: 'sync', attribute: 'items', env: 'ECS_SYNC_ITEMS',
    kind: k.listOf(['appointments', 'tasks', 'contacts'] as const), default: ['appointments', 'tasks'],
    doc: 'What is synchronised, comma-separated. contacts: the Contacts folder of each mailbox ↔ the CRM persons its user owns ("our contact"), both ways.',
  },
  {
    key: 'sync.selections', element: 'sync', attribute: 'selections', env: 'ECS_SYNC_SELECTIONS',
    kind: k.oneOf(['subscribed', 'none'] as const), default: 'subscribed',
    doc: 'subscribed: every static CRM selection of persons becomes a contact folder (named after it) in the mailbox of each associate who subscribes to it, CRM → Exchange only; none: selections are not synced.',
  },
  {
    key: 'sync.snapshotDeletes', element: 'sync', attribute: 'snapshotDeletes', env: 'ECS_SYNC_SNAPSHOT_DELETES',
    kind: k.oneOf(['apply', 'report'] as const), default: 'apply',
    doc: 'After a full resync (an invalid SyncState, a moved mailbox, a restarted server), items the sync had mapped that the snapshot no longer lists were deleted meanwhile: apply sends their deletes on; report only logs and counts them (ecs_snapshot_deletes_total).',
  },
  {
    key: 'sync.deleteBreaker', element: 'sync', attribute: 'deleteBreaker', env: 'ECS_DELETE_BREAKER',
    kind: k.integer(0, 100), default: 30,
    doc: 'Percent: when more than this share of a mailbox\'s mapped items (scope exchange:<mailbox>), or of all mapped items for deletes made in the CRM (scope crm), are deleted within deleteBreakerWindow — and more than deleteBreakerMinimum — further deletes of that scope are held back until an operator releases or discards them (exchange-crm-sync deletes). 0 turns the breaker off.',
  },
  {
    key: 'sync.deleteBreakerMinimum', element: 'sync', attribute: 'deleteBreakerMinimum', env: 'ECS_DELETE_BREAKER_MINIMUM',
    kind: k.integer(1, 1_000_000), default: 25, doc: 'The breaker never trips for this many deletes in the window or fewer (a small mailbox may lose most of its items).',
  },
  {
    key: 'sync.deleteBreakerWindow', element: 'sync', attribute: 'deleteBreakerWindow', env: 'ECS_DELETE_BREAKER_WINDOW',
    kind: k.duration(10_000, 24 * 60 * MINUTE), default: 10 * MINUTE, doc: 'The window the delete breaker counts deletes in.',
  },
  {
    key: 'sync.conflict', element: 'sync', attribute: 'conflict', env: 'ECS_CONFLICT',
    kind: k.oneOf(['last-writer-wins', 'exchange-wins', 'crm-wins'] as const), default: 'last-writer-wins', doc: 'Who wins when both sides changed an item since the last sync.',
  },
  {
    key: 'sync.windowPastDays', element: 'sync', attribute: 'windowPastDays', env: 'ECS_WINDOW_PAST_DAYS',
    kind: k.integer(0, 3_650), default: 30, doc: 'Initial sync takes appointments from this many days back.',
  },
  {
    key: 'sync.windowFutureDays', element: 'sync', attribute: 'windowFutureDays', env: 'ECS_WINDOW_FUTURE_DAYS',
    kind: k.integer(1, 3_650), default: 365, doc: 'Initial sync takes appointments up to this many days ahead; a never-ending series is written to SuperOffice up to this far ahead, and on as the window moves (it keeps no open-ended series).',
  },
  {
    key: 'sync.direction', element: 'sync', attribute: 'direction', env: 'ECS_SYNC_DIRECTION',
    kind: k.oneOf(k.SYNC_DIRECTIONS), default: 'two-way',
    doc: 'Which way mailboxes are synced, unless the mailbox file\'s direction column or the CRM (the reference CRM\'s associate.sync_direction, SuperOffice\'s <crm directionField>) says otherwise for one: two-way, to-crm (Exchange is the master: nothing is written to the mailbox), to-exchange (nothing is written to the CRM) or off (not synced; its mappings are kept). The file and the CRM are re-read with the mailbox list: no restart needed.',
  },
  {
    key: 'sync.attendees', element: 'sync', attribute: 'attendees', env: 'ECS_SYNC_ATTENDEES',
    kind: k.oneOf(['link', 'none'] as const), default: 'link',
    doc: 'What an Outlook meeting\'s attendees bring to the CRM: link (the record is linked to the first attendee, or the organiser, who is a CRM person, and on SuperOffice they become its participants) or none (attendees are not carried: no links, no participants). Writing to Exchange never sends meeting requests either way.',
  },
  {
    key: 'sync.private', element: 'sync', attribute: 'private', env: 'ECS_SYNC_PRIVATE',
    kind: k.oneOf(['sync', 'skip', 'busy'] as const), default: 'sync',
    doc: 'Private Outlook items: sync (marked private in the CRM), skip (not in the CRM; a mapped record is removed) or busy (the CRM gets a blocker: the time, "Private" as its title, nothing else; an edit or delete of the blocker in the CRM is not written back to the mailbox).',
  },
  {
    key: 'sync.categories.include', element: 'sync/categories', attribute: 'include', env: 'ECS_SYNC_CATEGORIES_INCLUDE',
    kind: k.categoryList, default: [],
    doc: 'Outlook categories, comma-separated (case-insensitive): when given, only items with one of them reach the CRM. An item that loses the last of them leaves the CRM (through the delete breaker), one that gains one comes.',
  },
  {
    key: 'sync.categories.exclude', element: 'sync/categories', attribute: 'exclude', env: 'ECS_SYNC_CATEGORIES_EXCLUDE',
    kind: k.categoryList, default: [],
    doc: 'Outlook categories, comma-separated (case-insensitive): items with one of them do not reach the CRM; an item that gains one leaves it (through the delete breaker). Wins over include.',
  },
  {
    key: 'sync.field.names', element: 'sync/field', attribute: 'name', env: 'ECS_SYNC_FIELD_NAMES', repeated: true,
    kind: k.textList(new RegExp(`^(${k.SYNCED_FIELDS.join('|')})$`), `one of ${k.SYNCED_FIELDS.join(', ')}`), default: [],
    doc: `A field of appointments and tasks whose direction differs from the mailbox's: <field name="body" direction="to-crm"/>, one element per field (${k.SYNCED_FIELDS.join(', ')}; time is the start, end, time zone, all-day flag, due date and a series' pattern, categories the Outlook categories that stand for the record's type (<category>), reminder an appointment's reminder (SuperOffice's alarm), status a task's status and completion). A field not carried towards a side is never overwritten there: a new record or item gets it empty (but its time: an appointment needs one).`,
  },
  {
    key: 'sync.field.directions', element: 'sync/field', attribute: 'direction', env: 'ECS_SYNC_FIELD_DIRECTIONS', repeated: true,
    kind: k.textList(new RegExp(`^(${k.FIELD_DIRECTIONS.join('|')})$`), `one of ${k.FIELD_DIRECTIONS.join(', ')}`), default: [],
    doc: "Each <field>'s direction: two-way, to-crm (Outlook's value reaches the CRM, the CRM's stays there), to-exchange (the other way) or none. The mailbox's own direction still applies on top.",
  },
  {
    key: 'sync.category.outlook', element: 'sync/category', attribute: 'outlook', env: 'ECS_SYNC_CATEGORY_OUTLOOK', repeated: true,
    kind: k.textList(/^[^,]{1,255}$/, 'an Outlook category name (no commas)'), default: [],
    doc: 'An Outlook category that stands for a CRM appointment or task type: <category outlook="Customer visit" crm="Meeting"/>, one element per pair. An item with a mapped category gets that type in the CRM (the first pair the item has, in the order of the file); one with none the CRM\'s default type. A record\'s type becomes the item\'s category (in place of the mapped ones it had; its other categories stay).',
  },
  {
    key: 'sync.category.crm', element: 'sync/category', attribute: 'crm', env: 'ECS_SYNC_CATEGORY_CRM', repeated: true,
    kind: k.textList(/^[^,]{1,255}$/, 'a CRM type name (no commas)'), default: [],
    doc: "Each <category>'s CRM type, by name: SuperOffice's Task list item (its Value, e.g. Meeting, Phone call), the reference CRM's appointment.activity_type.",
  },
  {
    key: 'sync.parallelism', element: 'sync', attribute: 'parallelism', env: 'ECS_SYNC_PARALLELISM',
    kind: k.integer(1, 1_000), default: 16, doc: 'Changes under way at once in each handler group, of different mailboxes/associates (each one\'s strictly in order), across all partitions.',
  },
  {
    key: 'sync.verifySample', element: 'sync', attribute: 'verifySample', env: 'ECS_SYNC_VERIFY_SAMPLE',
    kind: k.integer(0, 1_000), default: 2, doc: 'Mailboxes the service compares with the CRM item by item on its own every verifyInterval (as verify does), round robin; a difference seen twice with nothing in flight reaches /status, /metrics (ecs_verify_divergences) and the exit code of status. 0: off.',
  },
  {
    key: 'sync.verifyInterval', element: 'sync', attribute: 'verifyInterval', env: 'ECS_SYNC_VERIFY_INTERVAL',
    kind: k.duration(1_000, 24 * 60 * MINUTE), default: MINUTE, doc: 'How often the background verify compares verifySample mailboxes.',
  },
  // <ops>
  {
    key: 'ops.listen', element: 'ops', attribute: 'listen', env: 'ECS_OPS_LISTEN',
    kind: k.hostPort, default: '127.0.0.1:9464', doc: 'Where /metrics, /healthz, /readyz, /status and the status page are served.',
  },
  {
    key: 'ops.shutdownTimeout', element: 'ops', attribute: 'shutdownTimeout', env: 'ECS_SHUTDOWN_TIMEOUT',
    kind: k.duration(1_000, 10 * MINUTE), default: 30_000, doc: 'SIGTERM: finish in-flight work, save positions and exit within this.',
  },
  {
    key: 'ops.logLevel', element: 'ops', attribute: 'logLevel', env: 'ECS_LOG_LEVEL',
    kind: k.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), default: 'info', doc: 'pino log level.',
  },
  {
    key: 'ops.logFormat', element: 'ops', attribute: 'logFormat', env: 'ECS_LOG_FORMAT',
    kind: k.oneOf(['auto', 'json', 'pretty'] as const), default: 'auto',
    doc: 'json: one JSON object per line (for log shippers). pretty: readable lines (pino-pretty). auto: pretty when stdout is a terminal, else json.',
  },
  {
    key: 'ops.heapGrowingPercent', element: 'ops', attribute: 'heapGrowingPercent', env: 'ECS_HEAP_GROWING_PERCENT',
    kind: k.integer(0, 300), default: 50,
    doc: 'How far V8 lets the heap grow past the live data before collecting (0 = V8\'s own, up to 4×). 50 keeps a 10,000-mailbox start-up under 0.5 GB RSS for 5–9 % more CPU.',
  },
  {
    key: 'ops.footprint', element: 'ops', attribute: 'footprint', env: 'ECS_FOOTPRINT',
    kind: k.oneOf(['auto', 'small', 'fast'] as const), default: 'auto',
    doc: 'small: the embedded PostgreSQL (PGlite, WebAssembly) runs on V8\'s baseline compiler only and V8 favours memory over speed — npm start: ~250 instead of ~340 MiB RSS; its SQL about half as fast. fast: V8\'s defaults. auto: small when a database or the log is embedded.',
  },
  // <sandbox> (only without <ews>)
  {
    key: 'sandbox.mailboxes', element: 'sandbox', attribute: 'mailboxes', env: 'ECS_SANDBOX_MAILBOXES',
    kind: k.integer(1, 100_000), default: 20, doc: 'Built-in sandbox (no <ews>): number of demo mailboxes.',
  },
  {
    key: 'sandbox.activity', element: 'sandbox', attribute: 'activity', env: 'ECS_SANDBOX_ACTIVITY',
    kind: k.number(0, 10_000), default: 0.5, doc: 'Built-in sandbox: demo changes per second made by its activity generator (0: none).',
  },
  {
    key: 'sandbox.seed', element: 'sandbox', attribute: 'seed', env: 'ECS_SANDBOX_SEED',
    kind: k.integer(0, 2_147_483_647), default: 1, doc: 'Built-in sandbox: seed of the demo data and activity.',
  },
  {
    key: 'sandbox.path', element: 'sandbox', attribute: 'path', env: 'ECS_SANDBOX_PATH',
    kind: k.text(undefined, 'a folder path'), default: 'data/sandbox', doc: 'Built-in sandbox: the folder its mailboxes are kept in, so a restart meets the same Exchange (relative to the working directory; empty: in memory, every start a new Exchange organisation).',
  },
];

/** Elements that may appear, each with its attributes; derived from SETTINGS plus the containers. */
export function allowedElements(): Map<string, Set<string>> {
  const allowed = new Map<string, Set<string>>();
  const ensure = (path: string): Set<string> => {
    let attrs = allowed.get(path);
    if (!attrs) {
      attrs = new Set();
      allowed.set(path, attrs);
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (parent) ensure(parent);
    }
    return attrs;
  };
  for (const s of SETTINGS) {
    const attrs = ensure(s.element);
    if (s.attribute) attrs.add(s.attribute);
  }
  return allowed;
}
