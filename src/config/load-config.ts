import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import convict from 'convict';
import { ConfigError } from '../shared/errors.js';
import { SETTINGS, type SettingSpec } from './config-spec.js';
import type { SyncConfig, SyncDirectionSetting } from './config-types.js';
import { displayPath, readXmlSettings } from './xml-settings.js';

export const DEFAULT_CONFIG_FILE = 'config/CalendarSyncExchange.config.xml';

export interface LoadConfigOptions {
  /**
   * Whether a secret named by *passwordEnv must be present in the environment. `start`
   * needs it; `validate-config` (run where secrets live elsewhere) reports it as a warning.
   */
  requireSecrets?: boolean;
  /** Base for relative data folders; default: the working directory. */
  cwd?: string;
}

export interface LoadedConfig {
  config: SyncConfig;
  warnings: string[];
}

let formatsRegistered = false;

/** Each setting gets its own convict format, so coercion and messages come from its kind. */
function registerFormats(): void {
  if (formatsRegistered) return;
  for (const s of SETTINGS) {
    convict.addFormat({ name: formatName(s), validate: (v: unknown) => s.kind.validate(v), coerce: (v: string) => s.kind.coerce(v) });
  }
  convict.addFormat({ name: 'ecs:secret', validate: () => undefined });
  formatsRegistered = true;
}

const formatName = (s: SettingSpec): string => `ecs:${s.key}`;

function buildSchema(): convict.Schema<Record<string, unknown>> {
  const schema: Record<string, unknown> = {};
  const put = (key: string, leaf: Record<string, unknown>): void => {
    const parts = key.split('.');
    let node = schema;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = leaf;
  };
  for (const s of SETTINGS) {
    put(s.key, { doc: s.doc, format: formatName(s), default: s.default, env: s.env, sensitive: s.sensitive === true });
  }
  // Secrets are read from the variables the file names; convict masks them in toString().
  for (const key of ['exchange.ews.password', 'exchange.ews.clientSecret', 'exchange.graph.clientSecret', 'exchange.graph.eventHubConnectionString', 'crm.password', 'crm.ticket', 'crm.token', 'crm.appToken', 'crm.webhookSecret', 'state.password', 'transport.saslPassword']) {
    put(key, { doc: 'secret read from the environment variable named by passwordEnv', format: 'ecs:secret', default: '', sensitive: true });
  }
  return schema as convict.Schema<Record<string, unknown>>;
}

/**
 * The file's text, or where it is not UTF-8: a byte the decoder would silently replace with
 * U+FFFD would become part of an account name or a URL.
 */
function decodeUtf8(bytes: Buffer): string | { problem: string } {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const text = bytes.toString('utf8');
    const at = text.indexOf('\uFFFD');
    const before = text.slice(0, Math.max(0, at));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    return { problem: `line ${line}, column ${column}: not UTF-8 (a byte sequence no UTF-8 decoder accepts); save the file as UTF-8` };
  }
}

/**
 * Reads the operator's XML file, applies environment overrides and defaults, validates
 * everything, and returns one frozen, typed object. Throws ConfigError listing every
 * problem as "FILE: element-path: what is wrong and what is allowed".
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): LoadedConfig {
  registerFormats();
  const shownFile = file;
  const fail = (problems: string[]): never => {
    throw new ConfigError(problems.map((p) => `${shownFile}: ${p}`));
  };
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail([`cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`]);
  }
  const xmlText = decodeUtf8(bytes);
  if (typeof xmlText !== 'string') return fail([xmlText.problem]);
  const xml = readXmlSettings(xmlText);
  if (xml.fatal) fail(xml.problems);

  const raw: Record<string, unknown> = {};
  for (const [key, value] of xml.values) setPath(raw, key, value);
  // Structural problems do not stop the walk: every problem is reported in one go.
  const problems: string[] = [...xml.problems];
  const sourceOf = (s: SettingSpec): string =>
    env[s.env] !== undefined ? `environment variable ${s.env} (overrides ${displayPath(s.element, s.attribute)})` : displayPath(s.element, s.attribute);

  // The mailbox source is implied by what the <mailboxes> element holds.
  if (!xml.values.has('exchange.mailboxes.source')) {
    if (xml.values.has('exchange.mailboxes.list')) setPath(raw, 'exchange.mailboxes.source', 'list');
    else if (xml.values.has('exchange.mailboxes.file')) setPath(raw, 'exchange.mailboxes.source', 'file');
  }

  const conf = convict(buildSchema(), { env, args: [] });
  conf.load(raw);
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    for (const line of String((err as Error).message).split('\n')) {
      const match = /^([A-Za-z0-9_.]+): (.*)$/.exec(line);
      const spec = match ? SETTINGS.find((s) => s.key === match[1]) : undefined;
      if (!match || !spec) {
        problems.push(line);
        continue;
      }
      const cut = match[2].lastIndexOf(': value was ');
      problems.push(`${sourceOf(spec)}: ${cut >= 0 ? match[2].slice(0, cut) : match[2]}`);
    }
    // Go on: the cross-field checks below only test presence, so they add to this report.
  }

  const get = <T>(key: string): T => conf.get(key as never) as T;
  const warnings: string[] = [];
  const secret = (passwordEnvKey: string, secretKey: string, needed: boolean): string => {
    const name = get<string>(passwordEnvKey);
    const value = name ? env[name] : undefined;
    if (needed && (value === undefined || value === '')) {
      const spec = SETTINGS.find((s) => s.key === passwordEnvKey)!;
      const holds = /password/i.test(spec.attribute ?? '') ? 'the password' : /token/i.test(spec.attribute ?? '') ? 'the token' : /ticket/i.test(spec.attribute ?? '') ? 'the ticket' : 'the secret';
      const msg = `${displayPath(spec.element, spec.attribute)}: environment variable ${name} is not set (it must hold ${holds})`;
      if (options.requireSecrets) problems.push(msg);
      else warnings.push(`${shownFile}: ${msg}`);
    }
    conf.set(secretKey as never, (value ?? '') as never);
    return value ?? '';
  };

  const ewsPresent = xml.present.has('exchange/ews') || env.ECS_EWS_URL !== undefined;
  const ewsUrl = get<string>('exchange.ews.url');
  if (ewsPresent) {
    if (!ewsUrl) problems.push(`${displayPath('exchange/ews', 'url')}: missing; <ews> needs the EWS endpoint, e.g. https://mail.example.com/EWS/Exchange.asmx`);
  }
  const ewsAuth = get<'basic' | 'ntlm' | 'oauth'>('exchange.ews.auth');
  const certificateFile = get<string>('exchange.ews.certificateFile');
  const caFile = get<string>('exchange.ews.caFile');
  const fromFile = (name: string): string => (name ? resolve(dirname(resolve(file)), name) : '');
  if (ewsPresent && ewsAuth !== 'oauth' && !get<string>('exchange.ews.user')) problems.push(`${displayPath('exchange/ews', 'user')}: missing; <ews> needs the service account`);
  if (ewsPresent && ewsAuth === 'oauth') {
    if (!get<string>('exchange.ews.tenant')) problems.push(`${displayPath('exchange/ews', 'tenant')}: missing; auth="oauth" needs the Entra ID tenant (its id or contoso.onmicrosoft.com)`);
    if (!get<string>('exchange.ews.clientId')) problems.push(`${displayPath('exchange/ews', 'clientId')}: missing; auth="oauth" needs the app registration's application (client) id`);
    for (const [attribute, name] of [['certificateFile', certificateFile], ['caFile', caFile]] as const) {
      if (name && !existsSync(fromFile(name))) problems.push(`${displayPath('exchange/ews', attribute)}: ${fromFile(name)} does not exist`);
    }
  }
  const ewsPassword = secret('exchange.ews.passwordEnv', 'exchange.ews.password', ewsPresent && ewsAuth !== 'oauth');
  const clientSecret = secret('exchange.ews.clientSecretEnv', 'exchange.ews.clientSecret', ewsPresent && ewsAuth === 'oauth' && !certificateFile);
  const fieldNames = get<string[]>('sync.field.names');
  const fieldDirections = get<string[]>('sync.field.directions');
  if (fieldNames.length !== fieldDirections.length) problems.push(`${displayPath('sync/field', null)}: ${fieldNames.length} names but ${fieldDirections.length} directions; each <field> needs both`);
  for (const name of new Set(fieldNames.filter((n, i) => fieldNames.indexOf(n) !== i))) problems.push(`${displayPath('sync/field', 'name')}: ${name} appears more than once; one <field> per field`);
  const fields = Object.fromEntries(fieldNames.map((n, i) => [n, fieldDirections[i]]).filter(([n, d]) => d !== undefined && d !== 'two-way' && n !== undefined));
  const typeCategories = get<string[]>('sync.category.outlook');
  const typeNames = get<string[]>('sync.category.crm');
  if (typeCategories.length !== typeNames.length) problems.push(`${displayPath('sync/category', null)}: ${typeCategories.length} outlook but ${typeNames.length} crm; each <category> needs both`);
  const lowered = typeCategories.map((c) => c.toLowerCase());
  for (const c of new Set(typeCategories.filter((_, i) => lowered.indexOf(lowered[i]) !== i))) problems.push(`${displayPath('sync/category', 'outlook')}: "${c}" appears more than once; one CRM type per category`);
  const categoryTypes = typeCategories.map((outlook, i) => ({ outlook, crm: typeNames[i] ?? '' }));
  const accountUsers = get<string[]>('exchange.ews.accountUsers');
  const accountPasswordEnvs = get<string[]>('exchange.ews.accountPasswordEnvs');
  if (accountUsers.length !== accountPasswordEnvs.length) problems.push(`${displayPath('exchange/ews/account', null)}: ${accountUsers.length} users but ${accountPasswordEnvs.length} passwordEnv; each <account> needs both`);
  if (accountUsers.length && get<boolean>('exchange.ews.impersonation')) problems.push(`${displayPath('exchange/ews/account', null)}: more accounts are for impersonation="false" (delegate access); with impersonation each mailbox's own budget carries it`);
  if (accountUsers.length && ewsAuth === 'oauth') problems.push(`${displayPath('exchange/ews/account', null)}: auth="oauth" has one app, no accounts`);
  const accounts = accountUsers.map((user, i) => {
    const passwordEnv = accountPasswordEnvs[i] ?? '';
    const password = passwordEnv ? env[passwordEnv] : undefined;
    if (ewsPresent && !password) {
      const msg = `${displayPath('exchange/ews/account', 'passwordEnv')}: environment variable ${passwordEnv} is not set (it must hold the password of ${user})`;
      if (options.requireSecrets) problems.push(msg);
      else warnings.push(`${shownFile}: ${msg}`);
    }
    return { user, passwordEnv, password: password ?? '' };
  });

  const advise = get<string>('exchange.events.advise');
  const graphPresent = xml.present.has('exchange/graph') || env.ECS_GRAPH_TENANT !== undefined;
  const graphCertificate = get<string>('exchange.graph.certificateFile');
  const graphCa = get<string>('exchange.graph.caFile');
  const online = get<string>('exchange.events.online');
  const hybrid = online !== 'none';
  if (hybrid && advise.startsWith('Graph')) problems.push(`${displayPath('exchange/events/advise', 'online')}: a hybrid organisation needs advise EwsStream or EwsPull for its mailboxes on premises (advise is ${advise}); online="${online}" is the mode of those in Exchange Online`);
  if (hybrid && (ewsPresent || graphPresent) && !(ewsPresent && graphPresent)) problems.push(`${displayPath(ewsPresent ? 'exchange/graph' : 'exchange/ews', null)}: missing; advise online="${online}" syncs a hybrid organisation and needs both <ews url="…"> (on premises) and <graph tenant="…" clientId="…"/> (Exchange Online)`);
  const graphMode = advise.startsWith('Graph') ? advise : hybrid ? online : undefined;
  if (advise.startsWith('Graph') && ewsPresent && !graphPresent) problems.push(`${displayPath('exchange/graph', null)}: missing; advise ${advise} reaches the mailboxes through Microsoft Graph and needs <graph tenant="…" clientId="…"/> (<ews> is for EwsStream and EwsPull)`);
  if (!advise.startsWith('Graph') && !hybrid && graphPresent && !ewsPresent) problems.push(`${displayPath('exchange/events/advise', 'Object')}: <graph> is there but advise is ${advise}; use GraphNotify or GraphDelta to sync through Microsoft Graph`);
  if (graphPresent) {
    if (!get<string>('exchange.graph.tenant')) problems.push(`${displayPath('exchange/graph', 'tenant')}: missing; <graph> needs the Entra ID tenant (its id or contoso.onmicrosoft.com)`);
    if (!get<string>('exchange.graph.clientId')) problems.push(`${displayPath('exchange/graph', 'clientId')}: missing; <graph> needs the app registration's application (client) id`);
    for (const [attribute, name] of [['certificateFile', graphCertificate], ['caFile', graphCa]] as const) {
      if (name && !existsSync(fromFile(name))) problems.push(`${displayPath('exchange/graph', attribute)}: ${fromFile(name)} does not exist`);
    }
  }
  const graphListen = splitHostPort(get<string>('exchange.graph.listen'));
  if (graphMode === 'GraphNotify' && graphPresent && !get<string>('exchange.graph.notificationUrl') && !['127.0.0.1', 'localhost', '::1'].includes(graphListen[0])) {
    problems.push(`${displayPath('exchange/graph', 'notificationUrl')}: missing; Microsoft Graph must reach the webhook listening on ${get<string>('exchange.graph.listen')} at a public https address (a reverse proxy)`);
  }
  const graphSecret = secret('exchange.graph.clientSecretEnv', 'exchange.graph.clientSecret', graphPresent && graphMode !== undefined && !graphCertificate);
  const eventHub = graphMode === 'GraphNotify' && get<string>('exchange.graph.notify') === 'eventhub';
  if (eventHub && !graphPresent) problems.push(`${displayPath('exchange/graph', 'notify')}: eventhub needs <graph> with eventHubUrl (the built-in sandbox delivers to a webhook)`);
  if (eventHub && graphPresent && !get<string>('exchange.graph.eventHubUrl')) problems.push(`${displayPath('exchange/graph', 'eventHubUrl')}: missing; notify="eventhub" needs the Key Vault secret Graph sends with (EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<tenant domain>)`);
  const eventHubConnectionString = secret('exchange.graph.eventHubConnectionStringEnv', 'exchange.graph.eventHubConnectionString', eventHub && graphPresent);
  if (eventHub && eventHubConnectionString && !/^Endpoint=sb:\/\/[^;/]+\/?;(.*;)?EntityPath=[^;]+/i.test(eventHubConnectionString)) {
    problems.push(`${displayPath('exchange/graph', 'eventHubConnectionStringEnv')}: the variable ${get<string>('exchange.graph.eventHubConnectionStringEnv')} does not hold an Event Hub connection string (Endpoint=sb://<namespace>/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=<hub>)`);
  }

  const crmType = get<'embedded' | 'postgres' | 'superoffice'>('crm.type');
  const crmUrlText = get<string>('crm.url');
  const crmUrlProtocol = crmUrlText ? (/^([a-z]+):/i.exec(crmUrlText)?.[1] ?? '').toLowerCase() : '';
  if (crmType === 'postgres' && !crmUrlText) {
    problems.push(`${displayPath('crm', 'url')}: missing; <crm type="postgres"> needs url="postgres://host:5432/database"`);
  }
  if (crmType === 'postgres' && crmUrlText && !crmUrlProtocol.startsWith('postgres')) problems.push(`${displayPath('crm', 'url')}: <crm type="postgres"> needs a postgres:// URL`);
  if (crmType !== 'superoffice' && get<string>('crm.directionField')) problems.push(`${displayPath('crm', 'directionField')}: is for <crm type="superoffice">; the reference CRM's users carry their direction in associate.sync_direction`);
  if (crmType === 'superoffice' && crmUrlText && !/^https?$/.test(crmUrlProtocol)) problems.push(`${displayPath('crm', 'url')}: <crm type="superoffice"> needs the Web API's https:// URL, e.g. https://online.superoffice.com/Cust12345/api/v1`);
  if (crmType === 'embedded' && crmUrlText) problems.push(`${displayPath('crm', 'url')}: <crm type="embedded"> takes no url (use type="postgres" or type="superoffice")`);
  const superofficeRemote = crmType === 'superoffice' && !!crmUrlText;
  const soAuth = { user: get<string>('crm.user'), ticketEnv: get<string>('crm.ticketEnv'), tokenEnv: get<string>('crm.tokenEnv') };
  const soAuthKinds = [soAuth.user ? 'user' : '', soAuth.ticketEnv ? 'ticketEnv' : '', soAuth.tokenEnv ? 'tokenEnv' : ''].filter(Boolean);
  if (superofficeRemote && soAuthKinds.length !== 1) {
    problems.push(`${displayPath('crm', soAuthKinds[1] ?? 'user')}: <crm type="superoffice"> needs exactly one way to log in: user (with passwordEnv), ticketEnv (SOTICKET) or tokenEnv (Bearer)${soAuthKinds.length ? `; found ${soAuthKinds.join(', ')}` : ''}`);
  }
  if (superofficeRemote && soAuth.user && !get<string>('crm.passwordEnv')) problems.push(`${displayPath('crm', 'passwordEnv')}: missing; user="${soAuth.user}" needs passwordEnv naming the variable that holds the password`);
  const crmPassword = secret('crm.passwordEnv', 'crm.password', (crmType === 'postgres' || (superofficeRemote && !!soAuth.user)) && get<string>('crm.passwordEnv') !== '');
  const soTicket = secret('crm.ticketEnv', 'crm.ticket', superofficeRemote && !!soAuth.ticketEnv);
  const soToken = secret('crm.tokenEnv', 'crm.token', superofficeRemote && !!soAuth.tokenEnv);
  const soAppToken = secret('crm.appTokenEnv', 'crm.appToken', crmType === 'superoffice' && get<string>('crm.appTokenEnv') !== '');
  const webhookListen = get<string>('crm.webhookListen');
  if (crmType !== 'superoffice' && (webhookListen || get<string>('crm.webhookUrl'))) problems.push(`${displayPath('crm', webhookListen ? 'webhookListen' : 'webhookUrl')}: webhooks are for <crm type="superoffice">`);
  if (get<string>('crm.webhookUrl') && !webhookListen) problems.push(`${displayPath('crm', 'webhookUrl')}: needs webhookListen, where this instance receives what SuperOffice sends to that URL`);
  const webhookSecret = secret('crm.webhookSecretEnv', 'crm.webhookSecret', crmType === 'superoffice' && webhookListen !== '');

  const stateType = get<'shared' | 'embedded' | 'postgres'>('state.type');
  if (stateType === 'postgres' && !get<string>('state.url')) {
    problems.push(`${displayPath('state', 'url')}: missing; <state type="postgres"> needs url="postgres://host:5432/database"`);
  }
  secret('state.passwordEnv', 'state.password', stateType === 'postgres' && get<string>('state.passwordEnv') !== '');

  const transportType = get<'embedded' | 'kafka'>('transport.type');
  if (transportType === 'kafka' && get<string[]>('transport.brokers').length === 0) {
    problems.push(`${displayPath('transport', 'brokers')}: missing; <transport type="kafka"> needs brokers="host:port[,host:port…]" (or ECS_KAFKA_BROKERS)`);
  }
  const saslMechanism = get<string>('transport.saslMechanism');
  const saslNeeded = transportType === 'kafka' && saslMechanism !== 'none';
  if (saslNeeded && !get<string>('transport.saslUser')) {
    problems.push(`${displayPath('transport', 'saslUser')}: missing; saslMechanism="${saslMechanism}" needs a user`);
  }
  const saslPassword = secret('transport.saslPasswordEnv', 'transport.saslPassword', saslNeeded);

  const source = get<'crm' | 'list' | 'file'>('exchange.mailboxes.source');
  const list = get<string[]>('exchange.mailboxes.list');
  const mailboxFile = get<string>('exchange.mailboxes.file');
  if (source === 'list' && list.length === 0) {
    problems.push(`${displayPath('exchange/mailboxes', 'source')}: "list" needs at least one <mailbox>address</mailbox>`);
  }
  if (source === 'file' && !mailboxFile) problems.push(`${displayPath('exchange/mailboxes', 'source')}: "file" needs file="mailboxes.csv"`);
  if (source !== 'list' && list.length > 0) {
    problems.push(`${displayPath('exchange/mailboxes/mailbox', null)}: <mailbox> elements need source="list" (source is "${source}")`);
  }
  if (get<number>('sync.windowPastDays') + get<number>('sync.windowFutureDays') < 1) {
    problems.push(`${displayPath('sync', 'windowFutureDays')}: the sync window is empty`);
  }
  if (problems.length) fail(problems);

  const cwd = options.cwd ?? process.cwd();
  const [listenHost, listenPort] = splitHostPort(get<string>('ops.listen'));
  const crmUrl = crmType === 'postgres' ? withPassword(get<string>('crm.url'), crmPassword) : null;
  const [webhookHost, webhookPort] = webhookListen ? splitHostPort(webhookListen) : ['', 0];
  const crmPath = resolve(cwd, get<string>('crm.path'));
  const poolSize = get<number>('state.poolSize');
  const config: SyncConfig = {
    file: resolve(file),
    exchange: {
      mode: get('exchange.events.advise'),
      online: get<string>('exchange.events.online') === 'none' ? null : get('exchange.events.online'),
      pull: {
        intervalMs: get('exchange.events.pull.interval'),
        concurrency: get('exchange.events.pull.concurrency'),
        subscriptionTimeoutMinutes: Math.round(get<number>('exchange.events.pull.timeout') / 60_000),
      },
      stream: {
        maxSubscriptionsPerConnection: get('exchange.events.stream.maxSubscriptionsPerConnection'),
        connectionLifetimeMs: get('exchange.events.stream.connectionLifetime'),
        heartbeatTimeoutMs: get('exchange.events.stream.heartbeatTimeout'),
      },
      ews: {
        url: ewsPresent ? ewsUrl : null,
        user: get('exchange.ews.user'),
        passwordEnv: get('exchange.ews.passwordEnv'),
        password: ewsPassword,
        impersonation: get('exchange.ews.impersonation'),
        maxSubscriptionsPerAccount: get('exchange.ews.maxSubscriptionsPerAccount'),
        maxConnectionsPerAccount: get('exchange.ews.maxConnectionsPerAccount'),
        ...(accounts.length ? { accounts } : {}),
        version: get('exchange.ews.version'),
        tlsVerify: get('exchange.ews.tlsVerify'),
        requestTimeoutMs: get('exchange.ews.timeout'),
        auth: ewsAuth,
        ...(ewsAuth === 'oauth' ? {
          oauth: {
            authority: `${get<string>('exchange.ews.authority').replace(/\/+$/, '')}/${get<string>('exchange.ews.tenant')}`,
            clientId: get<string>('exchange.ews.clientId'), clientSecret, certificateFile: fromFile(certificateFile), scope: get<string>('exchange.ews.scope'),
          },
        } : {}),
        ...(caFile ? { caFile: fromFile(caFile) } : {}),
        autodiscover: { enabled: get<boolean>('exchange.ews.autodiscover'), url: get<string>('exchange.ews.autodiscoverUrl') },
      },
      graph: {
        url: graphPresent ? get<string>('exchange.graph.url') : null,
        authority: `${get<string>('exchange.graph.authority').replace(/\/+$/, '')}/${get<string>('exchange.graph.tenant')}`,
        clientId: get<string>('exchange.graph.clientId'), clientSecret: graphSecret, certificateFile: fromFile(graphCertificate),
        ...(graphCa ? { caFile: fromFile(graphCa) } : {}),
        timeoutMs: get('exchange.graph.timeout'), pollIntervalMs: get('exchange.graph.pollInterval'),
        notify: {
          kind: get<'webhook' | 'eventhub'>('exchange.graph.notify'), listen: { host: graphListen[0], port: graphListen[1] }, notificationUrl: get<string>('exchange.graph.notificationUrl') || null,
          eventHub: { url: get<string>('exchange.graph.eventHubUrl'), connectionString: eventHubConnectionString, tls: get<boolean>('exchange.graph.eventHubTls') },
          subscriptionLifetimeMinutes: Math.round(get<number>('exchange.graph.subscriptionLifetime') / 60_000), safetyPollMs: get('exchange.graph.safetyPoll'),
        },
      },
      mailboxes: {
        source,
        list: [...new Set(list)],
        directions: new Map(get<string[]>('exchange.mailboxes.directions').map((pair) => {
          const [address, direction] = pair.split('=');
          return [address.toLowerCase(), direction as SyncDirectionSetting] as const;
        })),
        file: mailboxFile ? resolve(dirname(resolve(file)), mailboxFile) : null,
        refreshMs: get('exchange.mailboxes.refresh'),
      },
    },
    crm: {
      type: crmType,
      url: crmUrl,
      schema: get('crm.schema'),
      stateSchema: get('crm.stateSchema'),
      pollIntervalMs: get('crm.pollInterval'),
      path: crmPath,
      superoffice: crmType !== 'superoffice' ? null : {
        url: crmUrlText || null,
        credentials: soAuth.ticketEnv ? { kind: 'ticket', ticket: soTicket } : soAuth.tokenEnv ? { kind: 'bearer', token: soToken } : { kind: 'basic', user: soAuth.user, password: crmPassword },
        appToken: soAppToken,
        webhook: webhookListen ? { listen: { host: webhookHost, port: webhookPort }, url: get<string>('crm.webhookUrl') || null, secret: webhookSecret } : null,
        reconcileIntervalMs: get('crm.reconcileInterval'),
        foreignApp: get('crm.foreignApp'),
        directionField: get('crm.directionField'),
        tlsVerify: get('crm.tlsVerify'),
      },
    },
    state: stateType === 'shared' && crmType !== 'superoffice'
      ? { shared: true, type: crmType, url: crmUrl, path: crmPath, poolSize, schema: get('crm.stateSchema') }
      : {
        // SuperOffice has no database of ours: the state is embedded unless <state> says otherwise
        shared: false, type: stateType === 'postgres' ? 'postgres' : 'embedded', poolSize, schema: get('crm.stateSchema'), path: resolve(cwd, get<string>('state.path')),
        url: stateType === 'postgres' ? withPassword(get<string>('state.url'), conf.get('state.password' as never) as string) : null,
      },
    transport: {
      type: transportType,
      brokers: get('transport.brokers'),
      topicPrefix: get('transport.topicPrefix'),
      partitions: get('transport.partitions'),
      replicationFactor: get('transport.replicationFactor'),
      clientId: get('transport.clientId'),
      ssl: get('transport.ssl'),
      compression: get('transport.compression'),
      tlsVerify: get('transport.tlsVerify'),
      sasl: saslNeeded
        ? { mechanism: saslMechanism as 'plain' | 'scram-sha-256' | 'scram-sha-512', username: get('transport.saslUser'), password: saslPassword }
        : null,
      path: resolve(cwd, get<string>('transport.path')),
    },
    sync: {
      items: get('sync.items'),
      selections: get('sync.selections'),
      snapshotDeletes: get('sync.snapshotDeletes'),
      deleteBreaker: { percent: get('sync.deleteBreaker'), minimum: get('sync.deleteBreakerMinimum'), windowMs: get('sync.deleteBreakerWindow') },
      conflict: get('sync.conflict'),
      windowPastDays: get('sync.windowPastDays'),
      windowFutureDays: get('sync.windowFutureDays'),
      private: get('sync.private'),
      categories: { include: get('sync.categories.include'), exclude: get('sync.categories.exclude') },
      fields,
      categoryTypes,
      attendees: get('sync.attendees'),
      direction: get('sync.direction'),
      parallelism: get('sync.parallelism'),
      verifySample: { perRound: get('sync.verifySample'), intervalMs: get('sync.verifyInterval') },
    },
    ops: { listen: { host: listenHost, port: listenPort }, shutdownTimeoutMs: get('ops.shutdownTimeout'), logLevel: get('ops.logLevel'), logFormat: get('ops.logFormat'), heapGrowingPercent: get('ops.heapGrowingPercent'), footprint: get('ops.footprint') },
    sandbox: { mailboxes: get('sandbox.mailboxes'), activity: get('sandbox.activity'), seed: get('sandbox.seed'), path: get<string>('sandbox.path') === '' ? undefined : resolve(cwd, get<string>('sandbox.path')) },
  };
  return { config: deepFreeze(config), warnings };
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]] = value;
}

function splitHostPort(value: string): [string, number] {
  const at = value.lastIndexOf(':');
  return [value.slice(0, at).replace(/^\[|\]$/g, ''), Number(value.slice(at + 1))];
}

function withPassword(url: string, password: string): string {
  if (!password) return url;
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value as Record<string, unknown>)) deepFreeze(inner);
  }
  return value;
}
