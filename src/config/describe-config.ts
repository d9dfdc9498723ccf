import type { SyncConfig } from './config-types.js';
import { redactUrl } from './setting-kinds.js';

/** A short, secret-free summary of a configuration, one "name: value" per line. */
export function describeConfig(config: SyncConfig): string[] {
  const { exchange, crm, transport, sync, ops } = config;
  const mode =
    exchange.mode === 'EwsStream'
      ? `EwsStream (up to ${exchange.stream.maxSubscriptionsPerConnection} mailboxes per connection, reopened every ${minutes(exchange.stream.connectionLifetimeMs)})`
      : `EwsPull (every ${seconds(exchange.pull.intervalMs)}, ${exchange.pull.concurrency} requests in flight)`;
  const ews = exchange.ews.url
    ? `${exchange.ews.url} as ${exchange.ews.user} (password from $${exchange.ews.passwordEnv}: ${exchange.ews.password ? '*****' : 'not set'}), ` +
      `${exchange.ews.impersonation ? 'impersonation' : 'no impersonation'}, ${exchange.ews.version}${exchange.ews.tlsVerify ? '' : ', TLS NOT VERIFIED'}`
    : `built-in EWS sandbox (${config.sandbox.mailboxes} demo mailboxes, ${config.sandbox.activity} changes/s)`;
  const mailboxes =
    exchange.mailboxes.source === 'list'
      ? `list of ${exchange.mailboxes.list.length}`
      : exchange.mailboxes.source === 'file'
        ? `file ${exchange.mailboxes.file}`
        : "CRM associates' e-mail addresses";
  const crmLine = crm.type === 'postgres' ? `postgres ${redactUrl(crm.url ?? '')} schema ${crm.schema}` : `embedded (${crm.path}) schema ${crm.schema}`;
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
    `items: ${sync.items.join(', ')}; conflict ${sync.conflict}; window -${sync.windowPastDays}/+${sync.windowFutureDays} days; private ${sync.private}`,
    `ops: http://${ops.listen.host}:${ops.listen.port}/`,
  ];
}

const seconds = (ms: number): string => `${ms / 1000}s`;
const minutes = (ms: number): string => `${Math.round(ms / 600) / 100}m`;
