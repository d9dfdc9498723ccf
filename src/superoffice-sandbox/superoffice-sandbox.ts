import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { prng } from '../sandbox/prng.js';
import { superOfficeRoutes, soError, type RouteAnswer, type RouteContext } from './routes.js';
import { NotFound, Refused, SuperOfficeStore, type SoAssociate, type SoChange } from './store.js';
import { SwaggerValidator } from './swagger-validator.js';
import { WebhookDispatcher } from './webhooks.js';

export interface SuperOfficeSandboxOptions {
  port?: number;
  host?: string;
  /** Demo associates user0001@<domain> …, matching the EWS sandbox's mailboxes. */
  associates?: number;
  domain?: string;
  /** Every user's password (default: $ECS_SUPEROFFICE_SANDBOX_PASSWORD, else "sandbox"). */
  password?: string;
  /** The integration user the sync logs in as. */
  apiUser?: string;
  seed?: number;
  /** Test mode: requests and answers are checked against SuperOffice's Swagger definitions. */
  validator?: SwaggerValidator;
}

export interface SuperOfficeSandboxStats {
  requests: Record<string, number>;
  statuses: Record<string, number>;
  webhooks: { delivered: number; dropped: number; discarded: number };
}

export interface SuperOfficeSandbox {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** The Web API base the adapter is configured with: …/api/v1 */
  readonly apiUrl: string;
  readonly port: number;
  readonly store: SuperOfficeStore;
  readonly apiUser: SoAssociate;
  readonly password: string;
  readonly validator: SwaggerValidator | undefined;
  readonly stats: SuperOfficeSandboxStats;
  /** Every change the database made, in order (for tests and benchmarks). */
  readonly journal: readonly SoChange[];
  /** A SOTICKET (7T:…) or Bearer token (7A:…) for a user, as SuperOffice issues them. */
  ticketFor(userName: string): string;
  tokenFor(userName: string): string;
  /** Answers `status` (429, 503) to this share of API requests, with Retry-After. */
  setFaults(faults: { status: number; probability: number; retryAfterSeconds?: number }): void;
  setLatency(ms: number): void;
  /** This share of webhook events is never sent. */
  dropWebhooks(probability: number): void;
  /** Like a server restart: open connections are cut, webhook retries are lost; 503 for `downMs`. */
  restart(downMs?: number): void;
  close(): Promise<void>;
}

export { DEFAULT_API_USER } from './api-user.js';
import { DEFAULT_API_USER } from './api-user.js';
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The Swagger files in ../shared/superoffice-api next to the repository, if present. */
export function swaggerFiles(root: string): string[] | undefined {
  const dir = process.env.ECS_SUPEROFFICE_API_DIR ?? join(root, '../shared/superoffice-api');
  const files = [join(dir, 'rest/Swagger-v1-REST.json'), join(dir, 'agent/Swagger-v1-AppointmentAgent.json')];
  return files.every((f) => existsSync(f)) ? files : undefined;
}

/**
 * A SuperOffice CRM Web API (v1) simulator on loopback: the subset the adapter needs, shaped
 * as SuperOffice's Swagger definitions say, with Basic, SOTICKET and Bearer authentication,
 * If-Modified-Since / If-Unmodified-Since, webhooks signed with HMAC-SHA256, and faults to
 * inject (429/503, slow answers, dropped webhooks, a restart) through /sandbox/… .
 */
export async function startSuperOfficeSandbox(options: SuperOfficeSandboxOptions = {}): Promise<SuperOfficeSandbox> {
  const password = options.password ?? process.env.ECS_SUPEROFFICE_SANDBOX_PASSWORD ?? 'sandbox';
  const domain = options.domain ?? 'contoso.test';
  const store = new SuperOfficeStore();
  const apiUser = store.addAssociate(options.apiUser ?? DEFAULT_API_USER, password, `${options.apiUser ?? DEFAULT_API_USER}@${domain}`, 'SystemAssociate');
  for (let i = 1; i <= (options.associates ?? 10); i++) {
    const name = `user${String(i).padStart(4, '0')}`;
    store.addAssociate(name, password, `${name}@${domain}`);
  }
  const random = prng((options.seed ?? 1) ^ 0x50ff);
  const webhooks = new WebhookDispatcher(store, random);
  const journal: SoChange[] = [];
  store.onChange((c) => journal.push(c));
  const tickets = new Map<string, number>();
  const routes = superOfficeRoutes();
  const stats: SuperOfficeSandboxStats = { requests: {}, statuses: {}, webhooks: webhooks as unknown as SuperOfficeSandboxStats['webhooks'] };
  const sockets = new Set<Socket>();
  let faults = { status: 503, probability: 0, retryAfterSeconds: 1 };
  let latencyMs = 0;
  let downUntil = 0;

  const issue = (prefix: '7T' | '7A', userName: string): string => {
    const a = store.associateByLogin(userName);
    if (!a) throw new Error(`no user ${userName}`);
    const t = `${prefix}:${randomBytes(18).toString('base64')}`;
    tickets.set(t, a.id);
    return t;
  };

  /** The logged-in user, or undefined (401). */
  const authenticate = (req: IncomingMessage): SoAssociate | undefined => {
    const header = req.headers.authorization ?? '';
    const [scheme, credentials = ''] = header.split(/\s+/, 2);
    let id: number | undefined;
    if (/^basic$/i.test(scheme)) {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const at = decoded.indexOf(':');
      const a = at > 0 ? store.associateByLogin(decoded.slice(0, at)) : undefined;
      if (a && a.password === decoded.slice(at + 1)) id = a.id;
      // the definitions also allow an unencoded ticket in a Basic header
      else id = tickets.get(credentials);
    } else if (/^soticket$/i.test(scheme)) id = credentials.startsWith('7T:') ? tickets.get(credentials) : undefined;
    else if (/^bearer$/i.test(scheme)) id = credentials.startsWith('7A:') ? tickets.get(credentials) : undefined;
    const a = id !== undefined ? store.associates.get(id) : undefined;
    return a && !a.deleted ? a : undefined;
  };

  const send = (res: ServerResponse, answer: RouteAnswer, where: string): void => {
    if (answer.body !== undefined && answer.definition && options.validator) {
      if (answer.definition.endsWith('[]')) options.validator.checkArray(`response ${where}`, answer.definition.slice(0, -2), answer.body);
      else options.validator.check(`response ${where}`, answer.definition, answer.body);
    }
    const status = String(answer.status);
    stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
    const headers = { date: new Date(store.now()).toUTCString(), ...answer.headers };
    if (answer.body === undefined) {
      res.writeHead(answer.status, headers).end();
      return;
    }
    res.writeHead(answer.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer.body));
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs));
        const url = new URL(req.url ?? '/', 'http://sandbox');
        const base = `http://${req.headers.host ?? '127.0.0.1'}`;
        if (url.pathname.startsWith('/sandbox/')) return control(req, res, url, Buffer.concat(chunks).toString('utf8'));
        const where = `${req.method} ${url.pathname}`;
        if (store.now() < downUntil || Date.now() < downUntil) return send(res, { status: 503, headers: { 'retry-after': '1' }, body: soError('ServiceUnavailable', 'the server is restarting') }, where);
        const route = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
        const user = authenticate(req);
        if (!user) return send(res, { status: 401, headers: { 'www-authenticate': 'Basic realm="SuperOffice", SOTICKET, Bearer' }, body: soError('SoAuthenticationException', 'authentication is required: Basic, SOTICKET or Bearer') }, where);
        if (!route) return send(res, { status: 404, body: soError('SoNotFoundException', `no such resource: ${where}`) }, where);
        const key = `${req.method} ${route.pattern.source.replace(/\\\//g, '/').replace(/\(\[\^\/\]\+\)/g, '{id}').replace(/^\^|\$$/g, '')}`;
        stats.requests[key] = (stats.requests[key] ?? 0) + 1;
        if (faults.probability > 0 && random() < faults.probability) {
          return send(res, { status: faults.status, headers: { 'retry-after': String(faults.retryAfterSeconds) }, body: soError(faults.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', `injected ${faults.status}`) }, where);
        }
        let body: unknown;
        const text = Buffer.concat(chunks).toString('utf8');
        if (text) {
          try {
            body = JSON.parse(text);
          } catch {
            return send(res, { status: 400, body: soError('BadRequest', 'the request body is not JSON') }, where);
          }
        }
        const params = route.pattern.exec(url.pathname)!.slice(1);
        const ctx: RouteContext = {
          method: req.method!, params, query: url.searchParams, headers: req.headers, body, user, base, store,
          checkRequest: (definition) => (definition.endsWith('[]') ? options.validator?.checkArray(`request ${where}`, definition.slice(0, -2), body) : options.validator?.check(`request ${where}`, definition, body)),
        };
        try {
          send(res, route.run(ctx), where);
        } catch (err) {
          if (err instanceof NotFound) send(res, { status: 404, body: soError('SoNotFoundException', err.message) }, where);
          else if (err instanceof Refused) send(res, { status: 400, body: soError('SoValidationException', err.message) }, where);
          else send(res, { status: 500, body: soError('Exception', String((err as Error).message ?? err)) }, where);
        }
      })();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const sandbox: SuperOfficeSandbox = {
    url: '', apiUrl: '', port: 0, store, apiUser, password, validator: options.validator, journal,
    get stats() {
      return { ...stats, webhooks: { delivered: webhooks.delivered, dropped: webhooks.dropped, discarded: webhooks.discarded } };
    },
    ticketFor: (u) => issue('7T', u),
    tokenFor: (u) => issue('7A', u),
    setFaults(f) {
      faults = { status: f.status, probability: Math.max(0, Math.min(1, f.probability)), retryAfterSeconds: f.retryAfterSeconds ?? 1 };
    },
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    dropWebhooks(p) {
      webhooks.dropProbability = Math.max(0, Math.min(1, p));
    },
    restart(downMs = 1_000) {
      webhooks.restart();
      downUntil = Date.now() + downMs;
      for (const s of sockets) s.destroy();
    },
    async close() {
      webhooks.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  /** The control API (JSON, same port, no authentication: loopback only). */
  function control(req: IncomingMessage, res: ServerResponse, url: URL, text: string): void {
    const reply = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return reply(400, { error: 'the body is not JSON' });
    }
    const n = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
    switch (`${req.method} ${url.pathname}`) {
      case 'POST /sandbox/faults': sandbox.setFaults({ status: n(body.status, 503), probability: n(body.probability, 0), retryAfterSeconds: n(body.retryAfterSeconds, 1) }); return reply(200, { ok: true });
      case 'POST /sandbox/latency': sandbox.setLatency(n(body.ms, 0)); return reply(200, { ok: true });
      case 'POST /sandbox/webhooks/drop': sandbox.dropWebhooks(n(body.probability, 0)); return reply(200, { ok: true });
      case 'POST /sandbox/restart': sandbox.restart(n(body.downMs, 1_000)); return reply(200, { ok: true });
      case 'POST /sandbox/tickets': {
        try {
          return reply(200, { ticket: sandbox.ticketFor(String(body.user)), token: sandbox.tokenFor(String(body.user)) });
        } catch (err) {
          return reply(404, { error: (err as Error).message });
        }
      }
      case 'GET /sandbox/stats': return reply(200, sandbox.stats);
      case 'GET /sandbox/journal': return reply(200, journal.slice(Number(url.searchParams.get('after') ?? 0)));
      default: return reply(404, { error: `no control endpoint ${req.method} ${url.pathname}` });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  Object.assign(sandbox, { url, apiUrl: `${url}/api/v1`, port });
  return sandbox;
}
