import { randomUUID } from 'node:crypto';
import { readBody } from '../../shared/read-body.js';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatUtc, parseDateTime } from '../../shared/time-zones.js';
import { parseOccurrenceId } from '../ids.js';
import type { Mailbox, MailboxStore, StoredItem } from '../mailbox-store.js';
import type { LatencyModel } from '../latency-model.js';
import { recipientsOf } from '../meeting-messages.js';
import { expandOccurrences, pruneExceptions, type Occurrence } from '../recurrence.js';
import type { TokenService } from '../token-service.js';
import { eventOf, extendedUriOf, GraphError, instanceOf, occurrenceGraphIdOf, propsOfEvent, TRANSACTION_KEY, transactionEntry, type EventOptions } from './event-json.js';
import { serveContacts } from './graph-contacts.js';
import { serveTodo } from './graph-todo.js';
import { checkIfMatch } from './mailbox-request.js';
import { GraphSubscriptions } from './graph-subscriptions.js';
import { deltaTokenOf, ewsIdOf, graphIdOf, parseDeltaToken, parseGraphId, restIdOf, type DeltaPosition } from './graph-ids.js';

/** Outlook's limits for Microsoft Graph (concepts/throttling-limits.md): per app, and per app and mailbox. */
export interface GraphLimits {
  /** Requests of one app under way at once, whatever the mailboxes (4). */
  readonly concurrentPerApp: number;
  /** Requests of one app to one mailbox in `windowMs` (10,000 in 10 minutes). */
  readonly requestsPerMailbox: number;
  readonly windowMs: number;
  /** Requests in one $batch (20). */
  readonly batchSize: number;
}

export const GRAPH_LIMITS: GraphLimits = { concurrentPerApp: 4, requestsPerMailbox: 10_000, windowMs: 10 * 60_000, batchSize: 20 };

/** Events per page of a list or delta without odata.maxpagesize / $top (Graph's default page for events is 10). */
const DEFAULT_PAGE = 10;
const MAX_PAGE = 1_000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface GraphServerOptions {
  readonly store: MailboxStore;
  readonly tokens: TokenService;
  /** The sandbox instance: a delta token of another one is not known here. */
  readonly epoch: number;
  readonly now: () => number;
  readonly limits?: Partial<GraphLimits>;
  /** The tenant notifications name. */
  readonly tenantId?: string;
  /** Graph mails a meeting's attendees when its organiser's copy is updated or deleted: told how many got a message. */
  readonly onMeetingMessages?: (recipients: number) => void;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface GraphRequest {
  method: string;
  url: URL;
  headers: Record<string, string | undefined>;
  body: unknown;
  app: string;
  roles: readonly string[];
}

/**
 * Microsoft Graph v1.0 over the sandbox's one mailbox store: what the sync uses of events
 * (create, read, update with If-Match, delete, list with extended-property filters, the
 * calendar view's delta query), `$batch`, app-only tokens from the sandbox's Entra endpoint
 * with their roles checked per request, and Outlook's throttling. HTTPS with the token
 * endpoint's certificate.
 */
export class GraphServer {
  url = '';
  readonly limits: GraphLimits;
  /** How long Exchange Online takes to answer (the sandbox's latency profile); undefined: at once. */
  latency: LatencyModel | undefined;
  readonly requests = new Map<string, number>();
  throttled = 0;
  private server: Server | undefined;
  private readonly inFlight = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  /** Bumped by loseDeltaTokens: every token handed out before is unknown (syncStateNotFound). */
  private generation = 1;
  private storm: { probability: number; retryAfterSeconds: number } | undefined;
  /** Change-notification subscriptions and their delivery. */
  readonly subscriptions: GraphSubscriptions;

  constructor(private readonly options: GraphServerOptions) {
    this.limits = { ...GRAPH_LIMITS, ...options.limits };
    this.subscriptions = new GraphSubscriptions({ store: options.store, now: options.now, tenantId: options.tenantId ?? 'contoso' });
  }

  private meetingMessages(item: StoredItem): void {
    const recipients = recipientsOf(item.props);
    if (recipients) this.options.onMeetingMessages?.(recipients);
  }

  async start(): Promise<void> {
    const server = createServer({ key: this.options.tokens.tlsKey, cert: this.options.tokens.ca }, (req, res) => {
      void this.handle(req, res).catch((err: unknown) => reply(res, { status: 500, body: errorBody('InternalServerError', err instanceof Error ? err.message : String(err)) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
    this.server = server;
  }

  async close(): Promise<void> {
    this.subscriptions.close();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every delta token handed out so far is forgotten (Graph's syncStateNotFound), as after a cache eviction. */
  loseDeltaTokens(): void {
    this.generation++;
  }

  /** 429 for this share of requests (a throttling storm), each with this Retry-After; 0: none. */
  throttle(probability: number, retryAfterSeconds = 2): void {
    this.storm = probability > 0 ? { probability: Math.min(1, probability), retryAfterSeconds } : undefined;
  }

  totalRequests(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://graph.microsoft.com');
    if (!url.pathname.startsWith('/v1.0/')) return reply(res, { status: 404, body: errorBody('BadRequest', `Invalid version: ${url.pathname.split('/')[1] ?? ''}`) });
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const checked = bearer ? this.options.tokens.checkGraph(bearer[1]) : undefined;
    if (!checked?.ok) {
      req.resume();
      return reply(res, { status: 401, headers: { 'www-authenticate': 'Bearer realm=""' }, body: errorBody('InvalidAuthenticationToken', checked ? checked.reason : 'Access token is empty.') });
    }
    const app = checked.app.clientId;
    // Outlook: 4 requests of an app under way at once, across every mailbox
    const running = this.inFlight.get(app) ?? 0;
    if (running >= this.limits.concurrentPerApp) {
      req.resume();
      this.throttled++;
      return reply(res, throttledReply(1, 'MailboxConcurrency'));
    }
    this.inFlight.set(app, running + 1);
    res.once('close', () => this.inFlight.set(app, (this.inFlight.get(app) ?? 1) - 1));
    // Exchange's time to answer (the sandbox's latency profile), while the request counts as under way
    const delay = this.latency?.delayOf(operationOf(req.method ?? 'GET', url.pathname)) ?? 0;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const raw = await readBody(req, MAX_BODY_BYTES);
    if (raw === undefined) return reply(res, { status: 413, body: errorBody('RequestEntityTooLarge', 'The request is too large.') });
    let body: unknown;
    if (raw.length) {
      try {
        body = JSON.parse(raw);
      } catch {
        return reply(res, { status: 400, body: errorBody('BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.') });
      }
    }
    const request: GraphRequest = { method: req.method ?? 'GET', url, headers: req.headers as Record<string, string | undefined>, body, app, roles: checked.roles ?? [] };
    if (url.pathname === '/v1.0/$batch' && request.method === 'POST') return reply(res, await this.batch(request));
    reply(res, await this.serve(request));
  }

  /** `$batch`: up to 20 requests, each served (and throttled) on its own; the batch answers 200. */
  private async batch(outer: GraphRequest): Promise<Reply> {
    this.count('$batch');
    const requests = (outer.body as { requests?: unknown } | undefined)?.requests;
    if (!Array.isArray(requests) || !requests.length) return { status: 400, body: errorBody('BadRequest', 'Invalid batch payload format.') };
    if (requests.length > this.limits.batchSize) return { status: 400, body: errorBody('BadRequest', `Maximum number of requests in a batch is ${this.limits.batchSize}.`) };
    const ids = requests.map((r) => String((r as { id?: unknown }).id ?? '').toLowerCase());
    if (new Set(ids).size !== ids.length || ids.some((id) => !id)) return { status: 400, body: errorBody('BadRequest', 'Batch request ids must be unique and not empty.') };
    const responses = [];
    for (const entry of requests as Array<{ id: string; method?: string; url?: string; headers?: Record<string, string>; body?: unknown }>) {
      const relative = String(entry.url ?? '');
      if (!relative.startsWith('/') && !/^(users|me)\//.test(relative)) {
        responses.push({ id: entry.id, status: 400, body: errorBody('BadRequest', 'Batch request urls are relative to the version: /users/…') });
        continue;
      }
      if (entry.body !== undefined && !Object.keys(entry.headers ?? {}).some((h) => h.toLowerCase() === 'content-type')) {
        responses.push({ id: entry.id, status: 400, body: errorBody('BadRequest', 'A batch request with a body needs a Content-Type header.') });
        continue;
      }
      const url = new URL(`/v1.0/${relative.replace(/^\//, '')}`, 'https://graph.microsoft.com');
      const headers = Object.fromEntries(Object.entries(entry.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const r = await this.serve({ ...outer, method: (entry.method ?? 'GET').toUpperCase(), url, headers, body: entry.body });
      responses.push({ id: entry.id, status: r.status, headers: { 'content-type': 'application/json', ...r.headers }, body: r.body ?? null });
    }
    return { status: 200, body: { responses } };
  }

  private async serve(request: GraphRequest): Promise<Reply> {
    try {
      if (/^\/v1\.0\/subscriptions(\/|$)/i.test(request.url.pathname)) return await this.subscriptionRoute(request);
      if (/^\/v1\.0\/users\/[^/]+\/translateExchangeIds$/i.test(request.url.pathname)) return this.translateIds(request);
      return this.route(request);
    } catch (err) {
      if (err instanceof GraphError) return { status: err.status, headers: err.headers, body: errorBody(err.code, err.message) };
      throw err;
    }
  }

  private route(request: GraphRequest): Reply {
    const { method, url } = request;
    const todo = /^\/v1\.0\/users\/([^/]+)\/todo\/((?:[^/]+)(?:\/[^/]+){0,4})$/i.exec(url.pathname);
    if (todo) return this.todoRoute(request, decodeURIComponent(todo[1]), todo[2].split('/').map(decodeURIComponent));
    const contacts = /^\/v1\.0\/users\/([^/]+)\/((?:contacts|contactFolders)(?:\/[^/]+){0,3})$/i.exec(url.pathname);
    if (contacts) return this.contactsRoute(request, decodeURIComponent(contacts[1]), contacts[2].split('/').map(decodeURIComponent));
    const m = /^\/v1\.0\/users\/([^/]+)\/(events|calendarView\/delta|calendarView)(?:\/([^/]+))?(\/instances)?$/i.exec(url.pathname);
    if (!m) throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').slice(2, 4).join('/')}'.`);
    const route = `${method} ${m[2].toLowerCase()}${m[3] ? '/{id}' : ''}${m[4] ? '/instances' : ''}`;
    this.count(route);
    const mailbox = this.servedMailbox(decodeURIComponent(m[1]));
    this.checkRole(request, method === 'GET' ? ['Calendars.Read', 'Calendars.ReadWrite'] : ['Calendars.ReadWrite']);
    this.checkRate(request.app, mailbox);
    if (this.storm && Math.random() < this.storm.probability) {
      this.throttled++;
      throw new GraphError(429, 'TooManyRequests', 'Please retry again later.', { 'retry-after': String(this.storm.retryAfterSeconds) });
    }
    const id = m[3] ? decodeURIComponent(m[3]) : undefined;
    switch (route) {
      case 'GET events': return this.list(mailbox, url);
      case 'POST events': return this.create(mailbox, request.body);
      case 'GET events/{id}': {
        const options = expandOf(url);
        const occurrence = this.occurrence(mailbox, id!);
        return { status: 200, body: occurrence ? instanceOf(mailbox, occurrence.item, occurrence.at, options) : eventOf(mailbox, this.item(mailbox, id!), options) };
      }
      case 'GET events/{id}/instances': return this.instances(mailbox, this.item(mailbox, id!), url);
      case 'PATCH events/{id}': {
        const occurrence = this.occurrence(mailbox, id!);
        const answer = occurrence ? this.updateOccurrence(mailbox, occurrence, request) : this.update(mailbox, this.item(mailbox, id!), request);
        // the organiser's meeting changed: Graph sends the attendees an update (event-update)
        this.meetingMessages(occurrence?.item ?? this.item(mailbox, id!));
        return answer;
      }
      case 'DELETE events/{id}': {
        const occurrence = this.occurrence(mailbox, id!);
        // the organiser's meeting deleted: Graph sends the attendees a cancellation (event-delete)
        this.meetingMessages(occurrence?.item ?? this.item(mailbox, id!));
        if (occurrence) {
          // one occurrence of a series: the series keeps it as a deleted occurrence
          (occurrence.item.deletedOccurrences ??= new Set()).add(occurrence.at.originalStart);
          occurrence.item.modifiedOccurrences?.delete(occurrence.at.originalStart);
          this.options.store.touch(mailbox, occurrence.item);
          return { status: 204 };
        }
        // to Deleted Items, as Outlook's delete does
        this.options.store.moveItem(mailbox, this.item(mailbox, id!), 'deleteditems');
        return { status: 204 };
      }
      case 'GET calendarview/delta': return this.delta(mailbox, url, request.headers.prefer);
      default: throw new GraphError(405, 'ErrorInvalidRequest', `The sandbox does not serve ${method} ${url.pathname}.`);
    }
  }

  /**
   * POST /users/{id}/translateExchangeIds (user-translateexchangeids.md): ids between the EWS
   * format, Graph's (restId) and MAPI's entryId, at most 1,000 of one mailbox; an id that is not
   * the mailbox's answers with errorDetails, the others are translated. The immutable formats
   * are not served (the sandbox's ids change on a move, as the non-immutable ones do).
   */
  private translateIds(request: GraphRequest): Reply {
    this.count('POST translateExchangeIds');
    if (request.method !== 'POST') throw new GraphError(405, 'ErrorInvalidRequest', `The sandbox does not serve ${request.method} ${request.url.pathname}.`);
    this.checkRole(request, ['User.Read.All', 'User.ReadWrite.All']);
    const user = decodeURIComponent(request.url.pathname.split('/')[3]);
    const mailbox = this.servedMailbox(user, false);
    this.checkRate(request.app, mailbox);
    const body = (request.body ?? {}) as { inputIds?: unknown; sourceIdType?: unknown; targetIdType?: unknown };
    const formats = ['ewsId', 'restId', 'entryId'];
    for (const name of ['sourceIdType', 'targetIdType'] as const) {
      const v = String(body[name] ?? '');
      if (v === 'immutableEntryId' || v === 'restImmutableEntryId') throw new GraphError(501, 'NotImplemented', `The sandbox does not serve the immutable id format ${v}.`);
      if (!formats.includes(v)) throw new GraphError(400, 'ErrorInvalidParameter', `${name} must be one of ${formats.join(', ')}, immutableEntryId, restImmutableEntryId; not '${v}'.`);
    }
    if (!Array.isArray(body.inputIds) || body.inputIds.some((i) => typeof i !== 'string')) throw new GraphError(400, 'ErrorInvalidParameter', 'inputIds must be a collection of strings.');
    if (body.inputIds.length > 1000) throw new GraphError(400, 'ErrorInvalidParameter', 'inputIds holds at most 1000 identifiers.');
    const from = String(body.sourceIdType);
    const to = String(body.targetIdType);
    const value = (body.inputIds as string[]).map((sourceId) => {
      const ews = from === 'ewsId' ? sourceId : from === 'restId' ? ewsIdOf(sourceId) : ewsIdOfEntryId(sourceId);
      const key = ews !== undefined ? (parseGraphId(restIdOf(ews)) ?? parseOccurrenceId(ews)) : undefined;
      if (!ews || !key || key.mailbox !== mailbox.index) return { sourceId, errorDetails: { code: 'ErrorInvalidIdMalformed', message: 'Id is malformed.' } };
      return { sourceId, targetId: to === 'ewsId' ? ews : to === 'restId' ? restIdOf(ews) : entryIdOf(ews) };
    });
    return { status: 200, body: { '@odata.context': `${this.url}/$metadata#Collection(microsoft.graph.convertIdResult)`, value } };
  }

  /**
   * The mailbox a user names, if Graph serves it: Exchange Online's (a mailbox on premises, or
   * one whose move has not finished, is MailboxNotEnabledForRESTAPI), and unless an application
   * access policy leaves it out (`denied`; not applied to translateExchangeIds).
   */
  private servedMailbox(user: string, policy = true): Mailbox {
    const mailbox = this.options.store.byEmail(user);
    if (!mailbox) throw new GraphError(404, 'ErrorInvalidUser', `The requested user '${user}' is invalid.`);
    if (!mailbox.servedOnline(Date.now())) throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    if (policy && mailbox.denied) throw new GraphError(403, 'ErrorAccessDenied', 'Access to OData is disabled.');
    return mailbox;
  }

  /** The mailbox of a request, with the roles, rate and faults every mailbox request has. */
  private mailboxFor(request: GraphRequest, user: string, roles: { read: readonly string[]; write: readonly string[] }): Mailbox {
    const mailbox = this.servedMailbox(user);
    this.checkRole(request, request.method === 'GET' ? [...roles.read, ...roles.write] : roles.write);
    this.checkRate(request.app, mailbox);
    if (this.storm && Math.random() < this.storm.probability) {
      this.throttled++;
      throw new GraphError(429, 'TooManyRequests', 'Please retry again later.', { 'retry-after': String(this.storm.retryAfterSeconds) });
    }
    return mailbox;
  }

  /** To Do (graph-todo.ts): the Tasks folder as the default list. */
  private todoRoute(request: GraphRequest, user: string, path: string[]): Reply {
    this.count(`${request.method} todo/${path.map((p, i) => (i % 2 === 1 && p.toLowerCase() !== 'delta' ? '{id}' : p.toLowerCase())).join('/')}`);
    const mailbox = this.mailboxFor(request, user, { read: ['Tasks.Read.All'], write: ['Tasks.ReadWrite.All'] });
    return serveTodo({
      store: this.options.store, mailbox, method: request.method, url: request.url, body: request.body, ifMatch: request.headers['if-match'], prefer: request.headers.prefer,
      base: this.url, epoch: this.options.epoch, generation: this.generation,
    }, path);
  }

  /** Contacts and contact folders (graph-contacts.ts). */
  private contactsRoute(request: GraphRequest, user: string, path: string[]): Reply {
    this.count(`${request.method} ${path[0].toLowerCase()}${path[1] !== undefined ? '/{id}' : ''}${path.slice(2).map((p) => `/${p.toLowerCase()}`).join('')}`);
    const mailbox = this.mailboxFor(request, user, { read: ['Contacts.Read'], write: ['Contacts.ReadWrite'] });
    return serveContacts({
      store: this.options.store, mailbox, method: request.method, url: request.url, body: request.body, ifMatch: request.headers['if-match'], prefer: request.headers.prefer,
      base: this.url, epoch: this.options.epoch, generation: this.generation, extended: expandOf(request.url).extended,
    }, path);
  }

  /** /subscriptions: create (validated), get, renew, delete, reauthorize. Events need Calendars.Read (a read scope). */
  private async subscriptionRoute(request: GraphRequest): Promise<Reply> {
    const m = /^\/v1\.0\/subscriptions(?:\/([^/]+))?(\/reauthorize)?$/i.exec(request.url.pathname);
    if (!m) throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${request.url.pathname}'.`);
    const route = `${request.method} subscriptions${m[1] ? '/{id}' : ''}${m[2] ? '/reauthorize' : ''}`;
    this.count(route);
    this.checkRole(request, ['Calendars.Read', 'Calendars.ReadWrite']);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const id = m[1] ? decodeURIComponent(m[1]) : '';
    switch (route) {
      case 'POST subscriptions': {
        const made = await this.subscriptions.create(request.app, body, (user) => {
          return this.servedMailbox(user);
        });
        return { status: 201, body: this.subscriptions.asJson(made) };
      }
      case 'GET subscriptions/{id}': return { status: 200, body: this.subscriptions.asJson(this.subscriptions.get(request.app, id)) };
      case 'PATCH subscriptions/{id}': return { status: 200, body: this.subscriptions.asJson(this.subscriptions.renew(request.app, id, body)) };
      case 'DELETE subscriptions/{id}':
        this.subscriptions.delete(request.app, id);
        return { status: 204 };
      case 'POST subscriptions/{id}/reauthorize':
        this.subscriptions.reauthorize(request.app, id);
        return { status: 204 };
      default: throw new GraphError(405, 'ErrorInvalidRequest', `The sandbox does not serve ${request.method} ${request.url.pathname}.`);
    }
  }

  private checkRole(request: GraphRequest, anyOf: readonly string[]): void {
    if (!anyOf.some((r) => request.roles.includes(r))) throw new GraphError(403, 'ErrorAccessDenied', `Access is denied. Check credentials and try again. (needs the application permission ${anyOf.join(' or ')})`);
  }

  /** 10,000 requests of an app to a mailbox in 10 minutes; then 429 until the oldest leaves the window. */
  private checkRate(app: string, mailbox: Mailbox): void {
    const key = `${app}|${mailbox.index}`;
    const now = this.options.now();
    const times = this.recent.get(key) ?? [];
    while (times.length && times[0] <= now - this.limits.windowMs) times.shift();
    if (times.length >= this.limits.requestsPerMailbox) {
      this.throttled++;
      const wait = Math.max(1, Math.ceil((times[0] + this.limits.windowMs - now) / 1000));
      throw new GraphError(429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', { 'retry-after': String(wait) });
    }
    times.push(now);
    this.recent.set(key, times);
  }

  /** An occurrence id (of a series in this mailbox's calendar): the series and the occurrence; a deleted one is not found. */
  private occurrence(mailbox: Mailbox, id: string): { item: StoredItem; at: Occurrence } | undefined {
    const key = parseOccurrenceId(ewsIdOf(id));
    if (!key) return undefined;
    const item = key.mailbox === mailbox.index ? mailbox.items.get(key.item) : undefined;
    const at = item && item.folder === 'calendar' ? expandOccurrences(item).find((o) => o.index === key.index) : undefined;
    if (!item || !at) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return { item, at };
  }

  /** GET events/{id}/instances: the occurrences and exceptions of a series in a window (event-list-instances.md). */
  private instances(mailbox: Mailbox, item: StoredItem, url: URL): Reply {
    const from = parseDateTime(url.searchParams.get('startDateTime') ?? url.searchParams.get('startdatetime') ?? '');
    const to = parseDateTime(url.searchParams.get('endDateTime') ?? url.searchParams.get('enddatetime') ?? '');
    if (from === undefined || to === undefined) throw new GraphError(400, 'ErrorInvalidParameter', 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.');
    const options = expandOf(url);
    const value = expandOccurrences(item, to).filter((o) => o.end > from && o.start < to).map((o) => selected(instanceOf(mailbox, item, o, options), url.searchParams.get('$select')?.split(',').map((x) => x.trim())));
    return { status: 200, body: { '@odata.context': `${this.url}/$metadata#users('${mailbox.address}')/events('${graphIdOf(mailbox.index, item.seq)}')/instances`, value } };
  }

  /** PATCH of one occurrence: it becomes (or stays) an exception of its series. */
  private updateOccurrence(mailbox: Mailbox, occurrence: { item: StoredItem; at: Occurrence }, request: GraphRequest): Reply {
    const { item, at } = occurrence;
    checkIfMatch(request.headers['if-match'], item);
    if (!request.body || typeof request.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
    const { props } = propsOfEvent(request.body as Record<string, unknown>);
    if (props.Recurrence) throw new GraphError(400, 'ErrorInvalidRequest', 'An occurrence of a series cannot have a recurrence of its own.');
    const override = { ...(item.modifiedOccurrences?.get(at.originalStart)?.props ?? {}), ...props };
    const start = typeof override.Start === 'string' ? override.Start : formatUtc(at.start);
    checkTimes(start, typeof override.End === 'string' ? override.End : formatUtc(at.end));
    (item.modifiedOccurrences ??= new Map()).set(at.originalStart, { props: override });
    this.options.store.touch(mailbox, item);
    const now = expandOccurrences(item).find((o) => o.index === at.index) ?? at;
    return { status: 200, body: instanceOf(mailbox, item, now) };
  }


  private item(mailbox: Mailbox, id: string): StoredItem {
    const key = parseGraphId(id);
    const item = key && key.mailbox === mailbox.index ? mailbox.items.get(key.item) : undefined;
    if (!item || item.folder !== 'calendar') throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return item;
  }

  private list(mailbox: Mailbox, url: URL): Reply {
    const filter = url.searchParams.get('$filter');
    let items = this.options.store.itemsIn(mailbox, 'calendar').sort((a, b) => a.seq - b.seq);
    if (filter) {
      // what the sync asks: singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')
      const f = /^singleValueExtendedProperties\/any\(\s*(\w+)\s*:\s*\1\/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1\/value\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(filter.trim());
      if (!f) throw new GraphError(501, 'NotImplemented', `The sandbox serves only the extended-property filter singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…'), not: ${filter}`);
      const { key } = extendedUriOf(f[2].replace(/''/g, "'"));
      const value = f[3].replace(/''/g, "'");
      items = items.filter((i) => i.extended.get(key)?.value === value);
    }
    const top = Math.min(MAX_PAGE, Number(url.searchParams.get('$top') ?? DEFAULT_PAGE) || DEFAULT_PAGE);
    const skip = Math.max(0, Number(url.searchParams.get('$skip') ?? 0) || 0);
    const page = items.slice(skip, skip + top);
    const select = url.searchParams.get('$select')?.split(',').map((s) => s.trim());
    const options = expandOf(url);
    const value = page.map((i) => selected(eventOf(mailbox, i, options), select));
    const next = new URL(url);
    next.searchParams.set('$skip', String(skip + top));
    return { status: 200, body: { '@odata.context': `${this.url}/$metadata#users('${mailbox.address}')/events`, value, ...(skip + top < items.length ? { '@odata.nextLink': next.toString().replace('https://graph.microsoft.com/v1.0', this.url) } : {}) } };
  }

  private create(mailbox: Mailbox, body: unknown): Reply {
    if (!body || typeof body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
    const { props, extended, transactionId } = propsOfEvent(body as Record<string, unknown>);
    if (transactionId) {
      // a retried POST with the same transactionId makes no second event (user-post-events.md)
      const made = this.options.store.itemsIn(mailbox, 'calendar').find((i) => i.extended.get(TRANSACTION_KEY)?.value === transactionId);
      if (made) return { status: 201, body: eventOf(mailbox, made) };
      extended.set(...transactionEntry(transactionId));
    }
    const now = formatUtc(this.options.now());
    props.Start ??= now;
    props.End ??= props.Start;
    props.UID ??= `040000008200E00074C5B7101A82E008${randomUUID().replace(/-/g, '').toUpperCase()}`;
    checkTimes(props.Start as string, props.End as string);
    const item = this.options.store.createItem(mailbox, 'calendar', 'CalendarItem', props, extended);
    return { status: 201, body: eventOf(mailbox, item) };
  }

  private update(mailbox: Mailbox, item: StoredItem, request: GraphRequest): Reply {
    checkIfMatch(request.headers['if-match'], item);
    if (!request.body || typeof request.body !== 'object') throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
    const { props, extended, clearsRecurrence } = propsOfEvent(request.body as Record<string, unknown>);
    const merged = { ...item.props, ...props };
    if (clearsRecurrence) delete merged.Recurrence;
    checkTimes(merged.Start as string, merged.End as string);
    item.props = merged;
    if (clearsRecurrence) {
      item.modifiedOccurrences = undefined;
      item.deletedOccurrences = undefined;
    }
    // new times or a new pattern: the exceptions and deleted occurrences no longer on it go, as with EWS
    pruneExceptions(item);
    for (const [k, v] of extended) item.extended.set(k, v);
    this.options.store.touch(mailbox, item);
    return { status: 200, body: eventOf(mailbox, item) };
  }

  /**
   * calendarView/delta: the first round lists the window's events; later rounds what changed
   * since, with `@removed` for events deleted — or changed outside the window (event-delta.md).
   * Pages carry a nextLink; the last a deltaLink. A token this server does not know: 410.
   */
  private delta(mailbox: Mailbox, url: URL, prefer: string | undefined): Reply {
    const token = url.searchParams.get('$deltatoken') ?? url.searchParams.get('$skiptoken');
    const store = this.options.store;
    let position: DeltaPosition;
    if (token) {
      const parsed = parseDeltaToken(token);
      if (!parsed || parsed.epoch !== this.options.epoch || parsed.generation !== this.generation || parsed.mailbox !== mailbox.index || parsed.after > mailbox.changeNumber) {
        const initial = `${this.url}/users/${encodeURIComponent(mailbox.address)}/calendarView/delta${parsed ? `?startDateTime=${formatUtc(parsed.from)}&endDateTime=${formatUtc(parsed.to)}` : ''}`;
        throw new GraphError(410, 'syncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.', { location: initial });
      }
      position = parsed;
    } else {
      const from = parseDateTime(url.searchParams.get('startDateTime') ?? url.searchParams.get('startdatetime') ?? '');
      const to = parseDateTime(url.searchParams.get('endDateTime') ?? url.searchParams.get('enddatetime') ?? '');
      if (from === undefined || to === undefined) throw new GraphError(400, 'ErrorInvalidParameter', 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.');
      position = { epoch: this.options.epoch, generation: this.generation, mailbox: mailbox.index, folder: 'calendar', from, to, after: -1 };
    }
    const upTo = position.upTo ?? mailbox.changeNumber;
    const offset = position.offset ?? 0;
    const pageSize = Math.min(MAX_PAGE, Number(/odata\.maxpagesize=(\d+)/.exec(prefer ?? '')?.[1] ?? DEFAULT_PAGE) || DEFAULT_PAGE);
    const inWindow = (i: StoredItem): boolean => {
      const start = Date.parse(String(i.props.Start ?? ''));
      const end = Date.parse(String(i.props.End ?? i.props.Start ?? ''));
      return end >= position.from && start < position.to;
    };
    // a calendar view lists a series as its occurrences and exceptions, never its master
    // (delta-query-events.md): a changed series is its instances in the window again, and its
    // deleted occurrences are removed
    type Entry = { event?: Record<string, unknown>; removed?: string };
    const entriesOf = (item: StoredItem, first: boolean): Entry[] => {
      if (typeof item.props.Recurrence !== 'object') return inWindow(item) ? [{ event: eventOf(mailbox, item) }] : first ? [] : [{ removed: graphIdOf(mailbox.index, item.seq) }];
      const instances: Entry[] = expandOccurrences(item, position.to).filter((o) => o.end >= position.from && o.start < position.to).map((o) => ({ event: instanceOf(mailbox, item, o) }));
      if (first || !item.deletedOccurrences?.size) return instances;
      const plain = expandOccurrences({ ...item, deletedOccurrences: undefined, modifiedOccurrences: undefined }, position.to);
      return [...instances, ...plain.filter((o) => item.deletedOccurrences!.has(o.originalStart)).map((o) => ({ removed: occurrenceGraphIdOf(item, o.index) }))];
    };
    let entries: Entry[];
    if (position.after < 0) {
      entries = store.itemsIn(mailbox, 'calendar').sort((a, b) => a.seq - b.seq).flatMap((item) => entriesOf(item, true));
    } else {
      entries = store.changesSince(mailbox, 'calendar', position.after).filter((c) => c.changeNumber <= upTo)
        .flatMap((c) => (c.item ? entriesOf(c.item, false) : [{ removed: restIdOf(c.deletedId!) }]));
    }
    const page = entries.slice(offset, offset + pageSize);
    const value = page.map((e) => e.event ?? { '@odata.type': '#microsoft.graph.event', id: e.removed, '@removed': { reason: 'deleted' } });
    const base = `${this.url}/users/${encodeURIComponent(mailbox.address)}/calendarView/delta`;
    const more = offset + pageSize < entries.length;
    const link = more
      ? { '@odata.nextLink': `${base}?$skiptoken=${deltaTokenOf({ ...position, upTo, offset: offset + pageSize })}` }
      : { '@odata.deltaLink': `${base}?$deltatoken=${deltaTokenOf({ epoch: position.epoch, generation: position.generation, mailbox: position.mailbox, folder: position.folder, from: position.from, to: position.to, after: upTo })}` };
    return { status: 200, body: { '@odata.context': `${this.url}/$metadata#Collection(event)`, value, ...link } };
  }

  private count(route: string): void {
    this.requests.set(route, (this.requests.get(route) ?? 0) + 1);
  }
}

/**
 * What $expand asks for: extended properties by id (singleValueExtendedProperties($filter=id eq
 * '…' [or id eq '…'])) and a series' exceptionOccurrences, comma-separated.
 */
function expandOf(url: URL): EventOptions {
  const expand = url.searchParams.get('$expand');
  if (!expand) return {};
  let extended: string[] | undefined;
  let exceptions = false;
  // split at the commas outside parentheses
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i <= expand.length; i++) {
    const c = expand[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || i === expand.length) {
      parts.push(expand.slice(from, i).trim());
      from = i + 1;
    }
  }
  for (const part of parts) {
    if (/^exceptionOccurrences$/i.test(part)) {
      exceptions = true;
      continue;
    }
    const m = /^singleValueExtendedProperties\(\$filter=(.+)\)$/i.exec(part);
    if (!m) throw new GraphError(501, 'NotImplemented', `The sandbox expands only singleValueExtendedProperties($filter=id eq '…') and exceptionOccurrences, not: ${part}`);
    extended = [...m[1].matchAll(/id\s+eq\s+'((?:[^']|'')*)'/gi)].map((x) => x[1].replace(/''/g, "'"));
  }
  return { ...(extended ? { extended } : {}), ...(exceptions ? { exceptions } : {}) };
}

function selected(event: Record<string, unknown>, select: readonly string[] | undefined): Record<string, unknown> {
  if (!select) return event;
  const keep = new Set(['@odata.etag', 'id', ...select, ...(event.singleValueExtendedProperties ? ['singleValueExtendedProperties'] : [])]);
  return Object.fromEntries(Object.entries(event).filter(([k]) => keep.has(k)));
}

/**
 * MAPI's entryId of a sandbox item: its binary id URL-safe base64 encoded as Graph writes binary
 * formats ('+' → '-', '/' → '_', padding dropped and counted by a final digit).
 */
function entryIdOf(ewsId: string): string {
  const b64 = Buffer.concat([Buffer.from('EID:'), Buffer.from(ewsId, 'base64')]).toString('base64');
  const padding = b64.length - b64.replace(/=+$/, '').length;
  return `${b64.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}${padding}`;
}

function ewsIdOfEntryId(entryId: string): string | undefined {
  const m = /^([A-Za-z0-9_-]+)([012])$/.exec(entryId);
  if (!m) return undefined;
  const raw = Buffer.from(m[1].replace(/-/g, '+').replace(/_/g, '/') + '='.repeat(Number(m[2])), 'base64');
  return raw.subarray(0, 4).toString('latin1') === 'EID:' ? raw.subarray(4).toString('base64') : undefined;
}

function checkTimes(start: string, end: string): void {
  if (Date.parse(end) < Date.parse(start)) throw new GraphError(400, 'ErrorInvalidRequest', 'Your request can\'t be completed. The end date of the event must be after the start date.');
}

function throttledReply(retryAfterSeconds: number, reason: string): Reply {
  return {
    status: 429, headers: { 'retry-after': String(retryAfterSeconds) },
    body: { error: { code: 'TooManyRequests', message: 'Please retry again later.', innerError: { code: '429', 'request-id': randomUUID(), date: new Date().toISOString(), status: '429', reason } } },
  };
}

function errorBody(code: string, message: string): unknown {
  return { error: { code, message, innerError: { 'request-id': randomUUID(), date: new Date().toISOString().replace(/\.\d+Z$/, '') } } };
}

function reply(res: ServerResponse, r: Reply): void {
  if (res.headersSent) return;
  if (r.body === undefined) {
    res.writeHead(r.status, r.headers);
    res.end();
    return;
  }
  res.writeHead(r.status, { 'content-type': 'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8', ...r.headers });
  res.end(JSON.stringify(r.body));
}

/** The EWS operation a Graph request does the work of, for the latency model: a read, a delta round, a subscription, a write. */
function operationOf(method: string, path: string): string {
  if (path.includes('/delta')) return 'SyncFolderItems';
  if (path.endsWith('/subscriptions') || path.includes('/subscriptions/')) return 'Subscribe';
  if (method === 'POST' && !path.endsWith('$batch')) return 'CreateItem';
  if (method === 'PATCH') return 'UpdateItem';
  if (method === 'DELETE') return 'DeleteItem';
  return 'GetItem';
}
