import type { SyncConfig } from './config-types.js';
import { redactUrl } from './setting-kinds.js';

/** A short, secret-free summary of a configuration, one "name: value" per line. */
export function describeConfig(config: SyncConfig): string[] {
  const { exchange, crm, transport, sync, ops } = config;
  const modeOf = (mode: SyncConfig['exchange']['mode']): string =>
    mode === 'EwsStream'
      ? `EwsStream (up to ${exchange.stream.maxSubscriptionsPerConnection} mailboxes per connection, reopened every ${minutes(exchange.stream.connectionLifetimeMs)})`
      : mode === 'EwsPull' ? `EwsPull (every ${seconds(exchange.pull.intervalMs)}, ${exchange.pull.concurrency} requests in flight)`
        : mode === 'GraphNotify' ? `GraphNotify (${exchange.graph.notify.kind === 'eventhub' ? `Event Hub ${eventHubOf(exchange.graph.notify.eventHub.connectionString)} via ${exchange.graph.notify.eventHub.url.replace(/\?.*$/, '')}` : `webhook on ${exchange.graph.notify.listen.host}:${exchange.graph.notify.listen.port}${exchange.graph.notify.notificationUrl ? ` via ${redactUrl(exchange.graph.notify.notificationUrl)}` : ''}`}, subscriptions of ${exchange.graph.notify.subscriptionLifetimeMinutes} min, a safety poll every ${seconds(exchange.graph.notify.safetyPollMs)})`
          : `${mode} (each mailbox's delta every ${seconds(exchange.graph.pollIntervalMs)})`;
  const mode = exchange.online ? `hybrid: ${modeOf(exchange.mode)} on premises, ${modeOf(exchange.online)} in Exchange Online` : modeOf(exchange.mode);
  const graph = exchange.graph;
  const overGraph = graph.url
    ? `Microsoft Graph ${redactUrl(graph.url)} as the app ${graph.clientId} (from ${graph.authority}, ${graph.certificateFile ? `certificate ${graph.certificateFile}` : `client secret ${graph.clientSecret ? '*****' : 'not set'}`})`
    : `built-in sandbox's Microsoft Graph (${config.sandbox.mailboxes} demo mailboxes, ${config.sandbox.activity} changes/s)`;
  const overEws = exchange.ews.url
    ? `${redactUrl(exchange.ews.url)} as ${exchange.ews.auth === 'oauth' && exchange.ews.oauth
      ? `the app ${exchange.ews.oauth.clientId} (auth=oauth from ${exchange.ews.oauth.authority}, ${exchange.ews.oauth.certificateFile ? `certificate ${exchange.ews.oauth.certificateFile}` : `client secret ${exchange.ews.oauth.clientSecret ? '*****' : 'not set'}`})`
      : `${exchange.ews.user} (password from $${exchange.ews.passwordEnv}: ${exchange.ews.password ? '*****' : 'not set'})`}, ` +
      `${exchange.ews.impersonation ? 'impersonation' : 'no impersonation'}, ${exchange.ews.version}${exchange.ews.tlsVerify ? '' : ', TLS NOT VERIFIED'}`
    : `built-in EWS sandbox (${config.sandbox.mailboxes} demo mailboxes, ${config.sandbox.activity} changes/s)`;
  const autodiscover = exchange.ews.autodiscover;
  const placedBy = autodiscover?.enabled === false ? 'placed by the mailbox file and the state' : `placed by the mailbox file, else Autodiscover ${autodiscover?.url ? redactUrl(autodiscover.url) : exchange.ews.url ? 'beside EWS' : 'of the sandbox'}`;
  const ews = exchange.online ? `${overEws}; and ${overGraph}; mailboxes ${placedBy}` : exchange.mode.startsWith('Graph') ? overGraph : overEws;
  const mailboxes =
    exchange.mailboxes.source === 'list'
      ? `list of ${exchange.mailboxes.list.length}`
      : exchange.mailboxes.source === 'file'
        ? `file ${exchange.mailboxes.file}`
        : "CRM associates' e-mail addresses";
  const so = crm.superoffice;
  const soLogin = so && (so.credentials.kind === 'basic' ? `as ${so.credentials.user} (password ${so.credentials.password ? '*****' : 'not set'})` : `with a ${so.credentials.kind === 'ticket' ? 'SOTICKET' : 'Bearer token'} (${(so.credentials.kind === 'ticket' ? so.credentials.ticket : so.credentials.token) ? '*****' : 'not set'})`);
  const crmLine = so
    ? (so.url ? `superoffice ${redactUrl(so.url)} ${soLogin}${so.appToken ? ', SO-AppToken *****' : ''}${so.tlsVerify ? '' : ', TLS NOT VERIFIED'}` : 'superoffice: the built-in SuperOffice simulator') +
      `; webhooks ${so.webhook ? `on ${so.webhook.listen.host}:${so.webhook.listen.port}${so.webhook.url ? ` via ${so.webhook.url}` : ''}` : 'off (polling only)'}; deletes checked every ${seconds(so.reconcileIntervalMs)}`
    : crm.type === 'postgres' ? `postgres ${redactUrl(crm.url ?? '')} schema ${crm.schema}` : `embedded (${crm.path}) schema ${crm.schema}`;
  const state = config.state;
  const stateLine = state.shared ? `in the CRM's database, schema ${state.schema}` : `${state.type === 'postgres' ? `postgres ${redactUrl(state.url ?? '')}` : `embedded (${state.path})`} schema ${state.schema}`;
  const transportLine =
    transport.type === 'kafka'
      ? `kafka ${transport.brokers.join(',')} topics ${transport.topicPrefix}* (${transport.partitions} partitions)` +
        `${transport.ssl ? ', TLS' : ''}${transport.sasl ? `, SASL ${transport.sasl.mechanism} as ${transport.sasl.username}` : ''}`
      : `embedded (${transport.path})`;
  return [
    `mode: ${mode}`,
    `exchange: ${ews}`,
    `mailboxes: ${mailboxes} (re-read every ${seconds(exchange.mailboxes.refreshMs)})`,
    `transport: ${transportLine}`,
    `crm: ${crmLine}`,
    `state: ${stateLine}`,
    `items: ${sync.items.join(', ')}; conflict ${sync.conflict}; window -${sync.windowPastDays}/+${sync.windowFutureDays} days; private ${sync.private}`,
    `policy: ${policyOf(config)}`,
    `ops: http://${ops.listen.host}:${ops.listen.port}/`,
  ];
}

/** Which way mailboxes are synced and who may say otherwise for one (the file's column, the CRM), in the order that wins. */
function policyOf(config: SyncConfig): string {
  const { sync, exchange, crm } = config;
  const overrides = [
    ...(exchange.mailboxes.source === 'file' ? [`the mailbox file's direction column`] : []),
    ...(exchange.mailboxes.directions.size ? ['<mailbox direction>'] : []),
    ...(crm.superoffice ? (crm.superoffice.directionField ? [`the user's ${crm.superoffice.directionField} in SuperOffice`] : []) : [`the CRM's associate.sync_direction`]),
  ];
  const who = overrides.length ? ` unless ${overrides.join(', else ')} says otherwise for one (re-read with the mailbox list, on SIGHUP and \`exchange-crm-sync reload\`)` : '';
  const privateItems = { skip: 'private items are not synced', busy: 'private items reach the CRM as blockers ("Private", the time only)', sync: 'private items are synced like the others' }[sync.private];
  const { include, exclude } = sync.categories;
  const categories = [
    ...(include.length ? [`only items in ${include.map((c) => `"${c}"`).join(' or ')} reach the CRM`] : []),
    ...(exclude.length ? [`items in ${exclude.map((c) => `"${c}"`).join(' or ')} do not`] : []),
  ];
  const attendees = sync.attendees === 'none' ? 'meeting attendees are not carried to the CRM' : 'meeting attendees link the record to CRM persons';
  const fieldWays = { 'to-crm': 'from Outlook to the CRM only', 'to-exchange': 'from the CRM to Outlook only', none: 'not synced' } as const;
  const fields = Object.entries(sync.fields).map(([name, way]) => `${name} ${fieldWays[way as keyof typeof fieldWays]}`);
  return `every mailbox ${sync.direction}${who}; ${privateItems}; ${categories.length ? `${categories.join(', ')}; ` : ''}${fields.length ? `fields: ${fields.join(', ')}; ` : ''}${sync.categoryTypes.length ? `CRM types from categories: ${sync.categoryTypes.map((t) => `"${t.outlook}" = ${t.crm}`).join(', ')} (others: the CRM's default); ` : ''}${attendees}; no meeting requests are ever sent; items outside -${sync.windowPastDays}/+${sync.windowFutureDays} days are left alone`;
}

const seconds = (ms: number): string => `${ms / 1000}s`;
const minutes = (ms: number): string => `${Math.round(ms / 600) / 100}m`;

/** An Event Hub connection string as "<hub> at <namespace>" — never its key. */
function eventHubOf(connectionString: string): string {
  if (!connectionString) return '(its connection string not set)';
  const endpoint = /Endpoint=sb:\/\/([^;/]+)/i.exec(connectionString)?.[1] ?? '?';
  const hub = /EntityPath=([^;]+)/i.exec(connectionString)?.[1] ?? '?';
  return `${hub} at ${endpoint}`;
}
