import { randomInt, randomUUID } from 'node:crypto';
import { readBody } from '../shared/read-body.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { childNamed, parseXml, XmlSyntaxError, type XmlElement } from '../shared/safe-xml.js';
import { checkWellFormed } from '../shared/xml-wellformed.js';
import { ianaFromWindows } from '../shared/time-zones.js';
import { ActivityGenerator } from './activity-generator.js';
import { AUTODISCOVER_NS, getUserSettings } from './autodiscover.js';
import { LoopLag } from './loop-lag.js';
import { handleControl } from './control-api.js';
import { EwsFault, EwsResponseError, type EwsContext, type SandboxLimits } from './ews-context.js';
import { OPERATIONS } from './ews-dispatch.js';
import { Mailbox, MailboxStore, type MailboxHome } from './mailbox-store.js';
import { PersistedStore, type OpenedStore } from './persisted-store.js';
import { NS } from './namespaces.js';
import { prng } from './prng.js';
import { LatencyModel, type LatencyProfile } from './latency-model.js';
import { SandboxStats } from './sandbox-stats.js';
import { envelope, soapFault } from './soap.js';
import type { StreamingConnection } from './streaming-connection.js';
import { SubscriptionRegistry } from './subscriptions.js';
import { TokenService, type TokenServiceOptions } from './token-service.js';
import { NtlmServer } from './ntlm-server.js';
import { GraphServer, type GraphLimits } from './graph/graph-server.js';
import { parseFolderId, parseItemId, parseOccurrenceId } from './ids.js';

export const SERVICE_ACCOUNT = 'svc-sync';
export const ACCEPTED_VERSIONS = new Set(['Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2015', 'Exchange2016']);
const MAX_BODY_BYTES = 20 * 1024 * 1024;

export interface SandboxOptions {
  /** How long EWS takes to answer, per operation (a distribution with a tail): none (default), on-premises or online. */
  latency?: LatencyProfile;
  port?: number;
  host?: string;
  mailboxes?: number;
  itemsPerMailbox?: number;
  password?: string;
  seed?: number;
  /** Activity generator changes per second (0: off). */
  activity?: number;
  domain?: string;
  /** Length of an EWS "minute" for timeouts (tests compress time); default 60000. */
  minuteMs?: number;
  limits?: Partial<SandboxLimits>;
  /**
   * More service accounts (svc-sync2 …, the sandbox password) for delegate access: like the
   * main one they hold FullAccess on every mailbox (Add-MailboxPermission), so without
   * impersonation they reach a mailbox named in the request — charged to their own budgets.
   */
  delegates?: readonly string[];
  /** Which Windows authentication schemes the EWS virtual directory offers (default: both). */
  auth?: { basic?: boolean; ntlm?: boolean };
  /** OAuth 2.0 (Exchange Online's app-only): a token endpoint for these apps, and Bearer tokens accepted on EWS. */
  oauth?: TokenServiceOptions;
  /** Microsoft Graph v1.0 beside EWS, over the same mailboxes (needs `oauth`: Graph takes only Bearer tokens). */
  graph?: boolean | { limits?: Partial<GraphLimits> };
  /**
   * Keep the mailboxes in this file across restarts (the built-in sandbox of `start`): a
   * restart meets the same items, ItemIds and SyncStates, as after a real server's restart.
   * Without it the mailboxes live in memory: each sandbox is a new organisation.
   */
  dataFile?: string;
  /** Called with each request and response body element (test mode: schema validation). */
  inspect?: (direction: 'request' | 'response', operation: string, xml: string) => void;
}

/** How a hostile server answers (Sandbox.hostile). */
/**
 * empty-500, truncated, huge: the work is done, the answer is spoiled. silent-stream: new
 * streaming connections hang without heartbeats. lose-subscriptions: the server forgets every
 * subscription a GetStreamingEvents or GetEvents names (as after a restart, or a load balancer
 * without affinity), while Subscribe keeps working.
 */
export type HostileMode = 'empty-500' | 'truncated' | 'huge' | 'drip' | 'silent-stream' | 'lose-subscriptions';
export const HOSTILE_MODES: readonly HostileMode[] = ['empty-500', 'truncated', 'huge', 'drip', 'silent-stream', 'lose-subscriptions'];
/** drip: a byte of the answer this often, so an idle timer never fires (a failing proxy, a dying disk). */
const DRIP_MS = 2_000;
/** Modes that change what the server does rather than spoiling its answer. */
const BEHAVING_MODES: ReadonlySet<HostileMode> = new Set(['silent-stream', 'lose-subscriptions']);

export interface Sandbox {
  readonly url: string;
  readonly port: number;
  readonly store: MailboxStore;
  readonly subscriptions: SubscriptionRegistry;
  readonly stats: SandboxStats;
  readonly activity: ActivityGenerator;
  readonly openConnections: ReadonlySet<StreamingConnection>;
  readonly serviceAccount: string;
  /** Which Exchange organisation this is: the same across restarts on one dataFile, another for every fresh sandbox. */
  readonly organisation: string;
  /** With a dataFile: whether the mailboxes were made now, restored after a clean stop, or recovered after a crash. */
  readonly dataOutcome: OpenedStore['outcome'];
  /** The sandbox's Entra ID, when started with `oauth`. */
  readonly tokens: TokenService | undefined;
  /** Its Microsoft Graph endpoint, when started with `graph`. */
  readonly graph: GraphServer | undefined;
  /** Like a server restart: subscriptions and streaming connections are lost; mailbox data stays. */
  restart(): void;
  /**
   * Moves mailboxes between the organisation's two homes: for `seconds` neither protocol serves
   * them (EWS answers ErrorMailboxMoveInProgress), then only the new home's does. Their EWS
   * subscriptions end with the move (the streaming connections that carried one are cut).
   * 'anywhere' (the default) serves both.
   */
  moveMailboxes(addresses: readonly string[], to: MailboxHome, seconds?: number): Mailbox[];
  /**
   * Hostile answers for this share of requests (of these operations only, when named), after
   * the operation has done its work: an empty HTTP 500, the answer cut in half, the answer
   * padded to 50 MB, or the answer a byte every 2 s (drip); or streaming connections that hang without a word (no heartbeats, their
   * events lost). null: none.
   */
  hostile(mode: HostileMode | null, probability?: number, operations?: readonly string[]): void;
  /** ErrorServerBusy for this share of requests (of these operations only, when named). */
  throttle(probability: number, backOffMilliseconds?: number, operations?: readonly string[]): void;
  /** Every request (of these operations only, when named) waits ms before it is served. */
  setLatency(ms: number, operations?: readonly string[]): void;
  /** Every request waits as its operation's distribution in the profile says (none: not at all). */
  setLatencyProfile(profile: LatencyProfile): void;
  /** The latency profile in force, and the requests it has delayed and by how much in all. */
  readonly latency: { profile: LatencyProfile; delayed: number; totalMs: number };
  dropConnections(): number;
  /** Closes the keep-alive connections no request is using (a load balancer's idle timeout). */
  closeIdleConnections(): void;
  /** Moves the sandbox's clock forward (subscription timeouts) without waiting. */
  advanceClock(ms: number): void;
  now(): number;
  close(): Promise<void>;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  maxSubscriptionsPerMailbox: 20,
  hangingConnectionLimit: 10,
  maxConcurrency: 27,
  maxSubscriptionsPerConnection: 200,
  heartbeatMs: 30_000,
  backends: 1,
};

interface AccountState {
  /** A busy answer told this account to stay away until then. */
  backoffUntil: number;
  busySentAt: number;
}

/**
 * Requests arriving this soon after a busy answer were in flight already; not counted as
 * violations (plus the sandbox's own recent event-loop stalls: see LoopLag).
 */
const IN_FLIGHT_GRACE_MS = 100;

/**
 * Starts the EWS sandbox: an Exchange 2016-like EWS endpoint on loopback, with mailboxes,
 * subscriptions, streaming, faults and a JSON control API under /sandbox/.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const domain = options.domain ?? 'contoso.test';
  const password = options.password ?? process.env.ECS_SANDBOX_PASSWORD ?? 'sandbox';
  const serviceAccount = `${SERVICE_ACCOUNT}@${domain}`;
  const serviceAccounts = new Set([serviceAccount, ...(options.delegates ?? []).map((d) => (d.includes('@') ? d : `${d}@${domain}`).toLowerCase())]);
  const minuteMs = options.minuteMs ?? 60_000;
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...options.limits };
  let clockOffset = 0;
  const now = (): number => Date.now() + clockOffset;
  const store = new MailboxStore({ domain, now });
  const persisted = options.dataFile ? PersistedStore.open(options.dataFile, store) : undefined;
  const opened = persisted?.opened ?? { organisation: randomUUID(), epoch: randomInt(1, 2 ** 31 - 1), outcome: 'fresh' as const };
  store.ensureMailboxes(options.mailboxes ?? 10);
  const subscriptions = new SubscriptionRegistry(store, { now, minuteMs });
  const stats = new SandboxStats();
  const activity = new ActivityGenerator(store, { seed: options.seed ?? 1, now });
  // restored mailboxes have their items already
  if (opened.outcome === 'fresh') activity.seedItems(options.itemsPerMailbox ?? 0);
  persisted?.start();
  const openConnections = new Set<StreamingConnection>();
  const { epoch } = opened;
  const accounts = new Map<string, AccountState>();
  /** Requests under way per throttling budget (EWSMaxConcurrency). */
  const inFlight = new Map<string, number>();
  const throttleRandom = prng((options.seed ?? 1) ^ 0x5eed);
  let throttleProbability = 0;
  let throttleBackOffMs = 2_000;
  let throttleOnly: RegExp | undefined;
  let hostile: { mode: HostileMode; probability: number; only?: ReadonlySet<string> } | undefined;
  const hostileRandom = prng((options.seed ?? 1) ^ 0x0badf00d);
  let latencyMs = 0;
  let latencyOnly: ReadonlySet<string> | undefined;
  const latencyRandom = prng((options.seed ?? 1) ^ 0x1a7e);
  let latencyModel = options.latency && options.latency !== 'none' ? new LatencyModel(options.latency, latencyRandom) : undefined;
  const latencyStats = { profile: options.latency ?? 'none' as LatencyProfile, delayed: 0, totalMs: 0 };
  const tokens = options.oauth ? new TokenService(options.oauth) : undefined;
  if (options.graph && !tokens) throw new Error('the sandbox serves Microsoft Graph only with an Entra endpoint (oauth): Graph takes Bearer tokens alone');
  const graph = options.graph && tokens ? new GraphServer({ store, tokens, epoch: opened.epoch, now, limits: typeof options.graph === 'object' ? options.graph.limits : undefined, onMeetingMessages: (n) => (stats.meetingMessages += n) }) : undefined;
  // Microsoft Graph answers as slowly as the profile says too (its own draws)
  if (graph && latencyModel) graph.latency = new LatencyModel(latencyModel.profile, latencyRandom);
  const basicAllowed = options.auth?.basic ?? true;
  const ntlm = (options.auth?.ntlm ?? true) ? new NtlmServer(domain, (user) => (accountNamed(user) ? password : undefined)) : undefined;

  const sandbox: Sandbox = {
    url: '',
    port: 0,
    store,
    subscriptions,
    stats,
    activity,
    openConnections,
    serviceAccount,
    organisation: opened.organisation,
    dataOutcome: opened.outcome,
    tokens,
    graph,
    restart() {
      for (const c of [...openConnections]) c.drop();
      subscriptions.clear();
    },
    moveMailboxes(addresses, to, seconds = 0) {
      const moved = addresses.map((a) => store.byEmail(a) ?? (() => { throw new Error(`no mailbox ${a}`); })());
      for (const mailbox of moved) {
        mailbox.home = to;
        mailbox.movingUntil = Date.now() + seconds * 1000;
        if (to !== 'online') continue;
        // its subscriptions end with the move: the connections that carried one are cut, and
        // the client, connecting again, learns that those subscriptions are gone
        const carriers: Set<unknown> = subscriptions.removeMailbox(mailbox);
        for (const c of [...openConnections]) if (carriers.has(c)) c.drop();
      }
      return moved;
    },
    hostile(mode, probability = 1, operations) {
      hostile = mode ? { mode, probability: Math.max(0, Math.min(1, probability)), only: operations?.length ? new Set(operations) : undefined } : undefined;
    },
    throttle(probability, backOffMilliseconds = 2_000, operations) {
      throttleProbability = Math.max(0, Math.min(1, probability));
      throttleBackOffMs = backOffMilliseconds;
      // the operation is the first element in soap:Body; a look at the text is enough for a fault hook
      throttleOnly = operations?.length ? new RegExp(`<(?:[\\w-]+:)?Body[^>]*>\\s*<(?:[\\w-]+:)?(?:${operations.map((o) => o.replace(/\W/g, '')).join('|')})[\\s>/]`) : undefined;
    },
    setLatency(ms, operations) {
      latencyMs = Math.max(0, ms);
      latencyOnly = operations?.length ? new Set(operations) : undefined;
    },
    setLatencyProfile(profile) {
      latencyModel = profile === 'none' ? undefined : new LatencyModel(profile, latencyRandom);
      if (graph) graph.latency = profile === 'none' ? undefined : new LatencyModel(profile, latencyRandom);
      latencyStats.profile = profile;
    },
    latency: latencyStats,
    closeIdleConnections() {
      server.closeIdleConnections();
    },
    dropConnections() {
      const n = openConnections.size;
      for (const c of [...openConnections]) c.drop();
      return n;
    },
    advanceClock(ms) {
      clockOffset += ms;
    },
    now,
    close: async () => undefined,
  };

  const loopLag = new LoopLag();
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' });
        res.end(soapFault('Server', 'ErrorInternalServerError', `An internal server error occurred: ${err instanceof Error ? err.message : String(err)}`));
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.requestTimeout = 0; // streaming responses last up to 30 minutes

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // When the request reached us, not when its body was read: a request sent before our
    // busy answer left is in flight, not a violation.
    const arrived = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/sandbox/')) return handleControl(sandbox, req, res, path);
    const autodiscover = path.toLowerCase() === '/autodiscover/autodiscover.svc';
    if (path.toLowerCase() !== '/ews/exchange.asmx' && !autodiscover) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' });
      res.end('EWS expects SOAP over POST\n');
      return;
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const windows = ntlm ? /^(?:NTLM|Negotiate)\s+(\S+)$/i.exec(req.headers.authorization ?? '') : null;
    const checked = bearer && tokens ? tokens.check(bearer[1]) : undefined;
    let refusedWhy = checked && !checked.ok ? checked.reason : undefined;
    let account: string | undefined;
    if (windows && ntlm) {
      const outcome = ntlm.handle(req.socket, windows[1]);
      if (outcome.kind === 'challenge') {
        stats.ntlmChallenges++;
        // the handshake's middle step: not a failure, and the connection stays open for the next
        req.resume();
        res.writeHead(401, { 'www-authenticate': outcome.header, 'content-type': 'text/plain' });
        res.end('401 Unauthorized\n');
        return;
      }
      if (outcome.kind === 'authenticated') {
        account = accountNamed(outcome.user);
        if (account) ntlm.markAuthenticated(req.socket, account);
      } else refusedWhy = outcome.reason;
    } else if (checked) account = checked.ok ? `app:${checked.app.clientId}` : undefined;
    else if (!req.headers.authorization && ntlm?.accountOf(req.socket)) account = ntlm.accountOf(req.socket);
    else if (basicAllowed) account = authenticate(req.headers.authorization);
    if (!account) {
      stats.authFailures++;
      req.resume();
      // Exchange Online names the token's fault in the Bearer challenge; IIS offers its schemes
      const challenges = checked && !checked.ok ? [`Bearer error="invalid_token", error_description="${checked.reason}"`]
        : [...(ntlm ? ['Negotiate', 'NTLM'] : []), ...(basicAllowed ? [`Basic realm="${domain}"`] : []), ...(tokens ? ['Bearer'] : [])];
      res.writeHead(401, { 'www-authenticate': challenges, 'content-type': 'text/plain' });
      res.end(`401 Unauthorized${refusedWhy ? `: ${refusedWhy}` : ''}\n`);
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) {
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end('request too large\n');
      return;
    }
    const state = accounts.get(account) ?? { backoffUntil: 0, busySentAt: 0 };
    accounts.set(account, state);
    if (arrived < state.backoffUntil && arrived > state.busySentAt + IN_FLIGHT_GRACE_MS + loopLag.recentMaxMs()) {
      stats.backoffViolations++;
      stats.worstBackoffShortfallMs = Math.max(stats.worstBackoffShortfallMs, state.backoffUntil - arrived);
    }
    if (throttleProbability > 0 && (!throttleOnly || throttleOnly.test(body)) && throttleRandom() < throttleProbability) {
      stats.throttled++;
      stats.countError('ErrorServerBusy');
      state.busySentAt = Date.now();
      state.backoffUntil = state.busySentAt + throttleBackOffMs;
      return fault(res, 'Server', 'ErrorServerBusy', 'The server cannot service this request right now. Try again later.', { BackOffMilliseconds: throttleBackOffMs });
    }

    let doc: XmlElement;
    try {
      // what sax lets through (a second root, a repeated attribute), and nesting no EWS schema
      // has: refused before a tree is built, so a hostile body cannot take the memory
      checkWellFormed(body, { maxDepth: 64, maxValueLength: body.length });
      doc = parseXml(body);
    } catch (err) {
      const message = err instanceof XmlSyntaxError ? err.message : String(err);
      stats.countError('ErrorSchemaValidation');
      return fault(res, 'Client', 'ErrorSchemaValidation', `The request failed schema validation: ${message}`);
    }
    const soapBody = doc.local === 'Envelope' && doc.uri === NS.soap ? childNamed(doc, 'Body') : undefined;
    const operationElement = soapBody?.children[0];
    if (autodiscover) {
      // SOAP Autodiscover (GetUserSettings): where a hybrid organisation's mailboxes live
      if (!operationElement || operationElement.uri !== AUTODISCOVER_NS || operationElement.local !== 'GetUserSettingsRequestMessage') {
        stats.countError('autodiscover:InvalidRequest');
        return fault(res, 'Client', 'InvalidRequest', 'Autodiscover: the sandbox answers GetUserSettings only.');
      }
      stats.countRequest('Autodiscover:GetUserSettings');
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(getUserSettings(operationElement, store, sandbox.url, now()));
      return;
    }
    if (!soapBody || !operationElement || operationElement.uri !== NS.m) {
      stats.countError('ErrorInvalidRequest');
      return fault(res, 'Client', 'ErrorSchemaValidation', 'The request failed schema validation: expected a SOAP 1.1 Envelope with an EWS operation in its Body.');
    }
    const operation = operationElement.local;
    stats.countRequest(operation);
    options.inspect?.('request', operation, body);
    // own properties only: an "operation" named toString or constructor is no operation
    const handler = Object.hasOwn(OPERATIONS, operation) ? OPERATIONS[operation] : undefined;
    if (!handler) {
      stats.countError('ErrorInvalidRequest');
      return fault(res, 'Client', 'ErrorInvalidRequest', `The sandbox does not implement ${operation}.`);
    }
    try {
      const header = childNamed(doc, 'Header');
      const version = header ? childNamed(header, 'RequestServerVersion')?.attrs.Version : undefined;
      if (version !== undefined && !ACCEPTED_VERSIONS.has(version)) {
        throw new EwsFault('ErrorInvalidServerVersion', `The specified server version ${version} is invalid; this server accepts ${[...ACCEPTED_VERSIONS].join(', ')}.`);
      }
      const { mailbox, impersonated } = targetMailbox(account, header, operationElement);
      const budget = impersonated ? `impersonation:${mailbox.address}` : account;
      if (operation !== 'GetStreamingEvents') {
        // EWSMaxConcurrency: requests of one budget under way at once (answered or not yet)
        const running = inFlight.get(budget) ?? 0;
        if (running >= limits.maxConcurrency) {
          stats.concurrencyRefusals++;
          throw new EwsFault('ErrorServerBusy', 'You have exceeded the available concurrent connections for your account. Try again once your other requests have completed.', {
            Policy: 'MaxConcurrency', MaxConcurrencyLimit: limits.maxConcurrency, ErrorMessage: `This operation exceeds the throttling budget for policy part 'MaxConcurrency', policy value '${limits.maxConcurrency}', Budget type: 'Ews'.`,
          });
        }
        inFlight.set(budget, running + 1);
        res.once('close', () => {
          const left = (inFlight.get(budget) ?? 1) - 1;
          if (left > 0) inFlight.set(budget, left);
          else inFlight.delete(budget);
        });
      }
      // a fixed delay (a test's) wins over the profile's draw
      const delay = latencyMs && (!latencyOnly || latencyOnly.has(operation)) ? latencyMs : (latencyModel?.delayOf(operation) ?? 0);
      if (delay) {
        latencyStats.delayed++;
        latencyStats.totalMs += delay;
        await new Promise((r) => setTimeout(r, delay));
      }
      const tzDefinition = header ? childNamed(childNamed(header, 'TimeZoneContext') ?? header, 'TimeZoneDefinition') : undefined;
      const zone = tzDefinition?.attrs.Id ? ianaFromWindows(tzDefinition.attrs.Id) : undefined;
      const responseHeaders: Record<string, string> = {};
      const backend = backendOf(req, mailbox, operation, responseHeaders);
      subscriptions.sweep();
      const ctx: EwsContext = {
        store, subscriptions, stats, limits, mailbox, account, budget, zone, body: operationElement, epoch, backend, now, minuteMs, res, responseHeaders, openConnections,
        inspect: options.inspect,
        silentStream: () => hostile?.mode === 'silent-stream' && hostileRandom() < hostile.probability,
      };
      if (hostile?.mode === 'lose-subscriptions' && (operation === 'GetStreamingEvents' || operation === 'GetEvents') && hostileRandom() < hostile.probability) {
        stats.countError('hostile:lose-subscriptions');
        for (const id of childNamed(operationElement, 'SubscriptionIds')?.children ?? []) subscriptions.remove(id.text.trim());
        const single = childNamed(operationElement, 'SubscriptionId');
        if (single) subscriptions.remove(single.text.trim());
      }
      const result = handler(ctx);
      if (result === undefined) return; // the operation answers on the response itself (streaming)
      for (const code of result.matchAll(/<m:ResponseCode>(\w+)<\/m:ResponseCode>/g)) if (code[1] !== 'NoError') stats.countError(code[1]);
      const xml = envelope(result);
      options.inspect?.('response', operation, xml);
      if (hostile && !BEHAVING_MODES.has(hostile.mode) && (!hostile.only || hostile.only.has(operation)) && hostileRandom() < hostile.probability) return answerHostile(res, hostile.mode, xml);
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', ...responseHeaders });
      res.end(xml);
    } catch (err) {
      if (err instanceof EwsFault || err instanceof EwsResponseError) {
        stats.countError(err.code);
        return fault(res, err.code === 'ErrorSchemaValidation' ? 'Client' : 'Server', err.code, err.message, err.details);
      }
      throw err;
    }
  }

  /** The work is done; the client gets this instead of its answer. */
  function answerHostile(res: ServerResponse, mode: HostileMode, xml: string): void {
    stats.countError(`hostile:${mode}`);
    if (mode === 'empty-500') {
      res.writeHead(500, { 'content-length': '0' });
      res.end();
    } else if (mode === 'truncated') {
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(xml.slice(0, Math.floor(xml.length / 2)));
    } else if (mode === 'drip') {
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      let at = 0;
      const timer = setInterval(() => {
        if (at >= xml.length) {
          clearInterval(timer);
          return void res.end();
        }
        res.write(xml[at++]);
      }, DRIP_MS);
      res.once('close', () => clearInterval(timer));
    } else {
      // 50 MB: the answer, then whitespace inside the envelope, sent in chunks
      const cut = xml.lastIndexOf('</s:Envelope>');
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      res.write(xml.slice(0, cut));
      const chunk = ' '.repeat(1 << 20);
      let left = 50;
      const more = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end(xml.slice(cut));
      };
      more();
    }
  }

  function fault(res: ServerResponse, kind: 'Client' | 'Server', code: string, message: string, details?: Record<string, string | number>): void {
    res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' });
    res.end(soapFault(kind, code, message, details));
  }

  /**
   * A Windows user (DOMAIN\\user, user@domain, or a bare user name) → the account, if it exists.
   * The NetBIOS domain names no mailbox: the sandbox has one domain.
   */
  function accountNamed(userName: string): string | undefined {
    let user = userName.toLowerCase();
    if (user.includes('\\')) user = user.slice(user.indexOf('\\') + 1);
    if (!user.includes('@')) user = `${user}@${domain}`;
    if (serviceAccounts.has(user)) return user;
    return store.byEmail(user) ? user : undefined;
  }

  /** Basic auth: the service account, or a mailbox owner, with the sandbox password. */
  function authenticate(header: string | undefined): string | undefined {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!match) return undefined;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || decoded.slice(colon + 1) !== password) return undefined;
    let user = decoded.slice(0, colon).toLowerCase();
    if (user.includes('\\')) user = user.slice(user.indexOf('\\') + 1);
    if (!user.includes('@')) user = `${user}@${domain}`;
    if (serviceAccounts.has(user)) return user;
    return store.byEmail(user) ? user : undefined;
  }

  /**
   * Without impersonation, the mailbox a request names — in a DistinguishedFolderId's Mailbox,
   * or inside an item or folder id — is the one it acts on (delegate access), if it names one.
   */
  function namedMailbox(operation: XmlElement): Mailbox | undefined {
    const visit = (e: XmlElement): Mailbox | undefined => {
      if (e.local === 'DistinguishedFolderId') {
        const address = childNamed(childNamed(e, 'Mailbox') ?? e, 'EmailAddress')?.text.trim();
        if (address) {
          const named = store.byEmail(address);
          if (!named) throw new EwsResponseError('ErrorNonExistentMailbox', `The SMTP address has no mailbox associated with it: ${address}`);
          return named;
        }
      }
      const id = e.local === 'OccurrenceItemId' ? e.attrs.RecurringMasterId : e.local === 'RecurringMasterItemId' ? e.attrs.OccurrenceId : /^(ItemId|FolderId|ParentFolderId)$/.test(e.local) ? e.attrs.Id : undefined;
      const index = id ? (parseItemId(id) ?? parseFolderId(id) ?? parseOccurrenceId(id))?.mailbox : undefined;
      if (index !== undefined) return store.byIndex(index);
      for (const c of e.children) {
        const found = visit(c);
        if (found) return found;
      }
      return undefined;
    };
    return visit(operation);
  }

  /** A mailbox being moved, or moved, to Exchange Online is not this server's any more. */
  function servedHere(mailbox: Mailbox): void {
    const served = mailbox.servedOnPremises(Date.now());
    if (served === 'moving') throw new EwsFault('ErrorMailboxMoveInProgress', `The mailbox ${mailbox.address} is being moved to Exchange Online. Try again later.`);
    if (served === 'gone') throw new EwsFault('ErrorNonExistentMailbox', `The SMTP address has no mailbox associated with it: ${mailbox.address}`);
  }

  /** ExchangeImpersonation → the impersonated mailbox; otherwise the account's own. */
  function targetMailbox(account: string, header: XmlElement | undefined, operation: XmlElement): { mailbox: Mailbox; impersonated: boolean } {
    const impersonation = header ? childNamed(header, 'ExchangeImpersonation') : undefined;
    const app = account.startsWith('app:');
    if (!impersonation && app) throw new EwsFault('ErrorInvalidExchangeImpersonationHeaderData', 'ExchangeImpersonation SOAP header must be present for this type of OAuth token.');
    if (!impersonation) {
      const own = store.byEmail(account);
      const named = namedMailbox(operation);
      if (named && named !== own) {
        // FullAccess: the service accounts have it on every mailbox, a mailbox user on none but its own
        if (!serviceAccounts.has(account)) throw new EwsResponseError('ErrorAccessDenied', `Access is denied. ${account} has no FullAccess on ${named.address}.`);
        servedHere(named);
        return { mailbox: named, impersonated: false };
      }
      // an operation on subscriptions only (GetEvents, GetStreamingEvents, Unsubscribe) acts on
      // no mailbox: a service account without one gets none made for it
      const mailboxless = ['GetEvents', 'GetStreamingEvents', 'Unsubscribe'].includes(operation.local);
      return { mailbox: own ?? (mailboxless ? new Mailbox(0, account) : store.addMailbox(account)), impersonated: false };
    }
    const sid = childNamed(impersonation, 'ConnectingSID');
    const idElement = sid?.children.find((c) => ['PrimarySmtpAddress', 'SmtpAddress', 'PrincipalName', 'SID'].includes(c.local));
    if (!idElement) throw new EwsFault('ErrorInvalidExchangeImpersonationHeaderData', 'ExchangeImpersonation needs ConnectingSID with PrimarySmtpAddress, SmtpAddress, PrincipalName or SID.');
    if (!serviceAccounts.has(account) && !app) throw new EwsFault('ErrorImpersonateUserDenied', 'The account does not have permission to impersonate the requested user.');
    const mailbox = idElement.local === 'SID' ? undefined : store.byEmail(idElement.text);
    if (!mailbox) throw new EwsFault('ErrorNonExistentMailbox', `The SMTP address has no mailbox associated with it: ${idElement.text.trim()}`);
    servedHere(mailbox);
    if (mailbox.denied) throw new EwsFault('ErrorImpersonateUserDenied', 'The account does not have permission to impersonate the requested user.');
    return { mailbox, impersonated: true };
  }

  /**
   * Which simulated mailbox server serves the request: the X-BackEndOverrideCookie if the
   * client echoes it, else the X-AnchorMailbox's server, else the target mailbox's.
   */
  function backendOf(req: IncomingMessage, mailbox: Mailbox, operation: string, responseHeaders: Record<string, string>): number {
    if (limits.backends <= 1) return 0;
    const cookie = /X-BackEndOverrideCookie=b(\d+)~/.exec(String(req.headers.cookie ?? '')) ?? /^b(\d+)~/.exec(String(req.headers['x-backendoverridecookie'] ?? ''));
    let backend: number;
    if (cookie) backend = Number(cookie[1]) % limits.backends;
    else {
      const anchor = store.byEmail(String(req.headers['x-anchormailbox'] ?? '')) ?? mailbox;
      backend = anchor.index % limits.backends;
    }
    if (operation === 'Subscribe' && String(req.headers['x-preferserveraffinity'] ?? '').toLowerCase() === 'true') {
      const value = `b${backend}~${mailbox.address}`;
      responseHeaders['X-BackEndOverrideCookie'] = value;
      responseHeaders['Set-Cookie'] = `X-BackEndOverrideCookie=${value}; path=/; secure; HttpOnly`;
    }
    return backend;
  }

  await tokens?.start();
  await graph?.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  Object.assign(sandbox, {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/EWS/Exchange.asmx`,
    port,
    close: async () => {
      activity.stop();
      loopLag.stop();
      await graph?.close();
      await tokens?.close();
      for (const c of [...openConnections]) c.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      persisted?.close();
    },
  });
  if (options.activity) activity.setRate(options.activity);
  return sandbox;
}
