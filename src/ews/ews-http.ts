import { responseCodeIn } from './ews-response-codes.js';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { BackoffGate } from '../shared/backoff-gate.js';
import type { EwsMetrics } from './ews-metrics.js';
import { Limiter } from '../shared/limiter.js';
import type { EwsCredentials, NtlmCredentials } from './ews-credentials.js';
import { isRetriable } from '../shared/errors.js';

/** The request options ews-javascript-api hands its XHR implementation. */
interface XhrOptions {
  type?: string;
  url: string;
  headers?: Record<string, string>;
  data?: string;
}

/** The XHR-like response object ews-javascript-api reads. */
export interface XhrResponse {
  responseText: string;
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  getAllResponseHeaders(): string;
  getResponseHeader(name: string): string | null;
}

export interface EwsTransportOptions {
  tlsVerify: boolean;
  timeoutMs: number;
  maxSockets: number;
  gate: BackoffGate;
  metrics?: EwsMetrics;
  /** The Authorization header of every request (Basic, or an OAuth token renewed as needed). */
  credentials?: EwsCredentials;
  /** After Exchange refused the credentials, how long nothing is sent before one request tries again. */
  authRetryMs?: number;
}

/** Exchange (or the token endpoint) refused the credentials: when, and what it said. */
export interface AuthRefusal {
  readonly reason: string;
  readonly at: number;
}

/**
 * The agents and the shared backoff gate for every EWS request of the process: requests
 * share `maxSockets` keep-alive sockets; streaming connections get agents of their own,
 * uncapped (their number is bounded by the mailbox groups), so that 50 open streams can
 * never take the sockets every Subscribe and SyncFolderItems needs.
 */
export class EwsTransport {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
  readonly streamingHttpAgent: HttpAgent;
  readonly streamingHttpsAgent: HttpsAgent;
  /**
   * A request waits for a socket here, before the backoff gate, not in the agent's queue
   * after it: a request queued in the agent would go out whenever a socket frees up, even
   * inside a back-off window that a busy answer opened meanwhile.
   */
  readonly sockets: Limiter;
  /** NTLM: one agent per TCP connection, each authenticated once (free ones; one per running request is taken). */
  private readonly ntlmConnections: NtlmConnection[] = [];
  private refusal: AuthRefusal | undefined;
  private probing = false;

  constructor(readonly options: EwsTransportOptions) {
    this.sockets = new Limiter(options.maxSockets);
    if (options.credentials?.mode === 'ntlm') {
      for (let i = 0; i < options.maxSockets; i++) this.ntlmConnections.push({ http: this.connectionAgent(false) as HttpAgent, https: this.connectionAgent(true) as HttpsAgent, socket: undefined });
    }
    this.httpAgent = new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets });
    // TLS is verified unless the operator turned it off explicitly (tlsVerify="false").
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets, rejectUnauthorized: options.tlsVerify });
    this.streamingHttpAgent = new HttpAgent({ keepAlive: false });
    this.streamingHttpsAgent = new HttpsAgent({ keepAlive: false, rejectUnauthorized: options.tlsVerify });
  }

  /**
   * The refusal to answer with instead of sending, if any. A refused password sent again and
   * again locks the account in Active Directory, so after a refusal nothing is sent for
   * authRetryMs; then one request (one only) tries again.
   */
  heldBack(): AuthRefusal | undefined {
    const r = this.refusal;
    if (!r) return undefined;
    if (this.probing || Date.now() - r.at < (this.options.authRetryMs ?? 5 * 60_000)) return r;
    this.probing = true;
    return undefined;
  }

  /**
   * What a request learned: refused (401 after everything the scheme allows), accepted, or
   * nothing (the network failed: a standing refusal stays, its retry comes later again).
   */
  authOutcome(outcome: { refused: string } | 'accepted' | 'unknown'): void {
    const probed = this.probing;
    this.probing = false;
    if (outcome === 'accepted') this.refusal = undefined;
    else if (outcome !== 'unknown') this.refusal = { reason: outcome.refused, at: Date.now() };
    else if (probed && this.refusal) this.refusal = { ...this.refusal, at: Date.now() };
  }

  /** The standing refusal, for the status page. */
  get authRefusal(): AuthRefusal | undefined {
    return this.refusal;
  }

  /** A free NTLM connection (the socket limiter guarantees one is free). */
  takeConnection(): NtlmConnection {
    const c = this.ntlmConnections.pop();
    if (!c) throw new Error('no free NTLM connection: more requests than sockets');
    return c;
  }

  returnConnection(c: NtlmConnection): void {
    this.ntlmConnections.push(c);
  }

  /** An agent for one more TCP connection of its own (a streaming connection that must authenticate itself). */
  connectionAgent(https: boolean): HttpAgent | HttpsAgent {
    return https ? new HttpsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: this.options.tlsVerify }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  destroy(): void {
    for (const c of this.ntlmConnections) {
      c.http.destroy();
      c.https.destroy();
    }
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.streamingHttpAgent.destroy();
    this.streamingHttpsAgent.destroy();
  }
}

/** One TCP connection for NTLM: its agents keep exactly one socket, authenticated when `socket` is set. */
interface NtlmConnection {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  /** The socket its last handshake authenticated. */
  socket: Socket | undefined;
}

/**
 * One HTTP exchange; always resolves (status 0 for network failures), with the socket it used.
 * `timeoutMs` is a deadline for the whole answer, headers and body: a server that drips a byte
 * now and then would keep an idle timer quiet for ever.
 */
export function roundTrip(url: URL, method: string, headers: Record<string, string>, body: string, agent: HttpAgent | HttpsAgent, timeoutMs: number, toResponse: (res: IncomingMessage, text: string) => XhrResponse): Promise<{ response: XhrResponse; socket: Socket | undefined }> {
  return new Promise((resolve) => {
    let socket: Socket | undefined;
    let deadline: NodeJS.Timeout | undefined = undefined;
    let headersIn = false;
    const done = (result: { response: XhrResponse; socket: Socket | undefined }): void => {
      clearTimeout(deadline);
      resolve(result);
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, agent }, (res) => {
      headersIn = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ response: toResponse(res, Buffer.concat(chunks).toString('utf8')), socket }));
      res.on('error', (err) => done({ response: failure(err), socket }));
    });
    deadline = setTimeout(() => {
      const err = Object.assign(new Error(`no answer within ${timeoutMs} ms from ${url.origin}${url.pathname} (${headersIn ? 'the body was still coming' : 'not even the headers'}; ews@timeout)`), { code: 'TIMEOUT' });
      req.destroy(err);
      done({ response: failure(err), socket });
    }, timeoutMs);
    req.on('socket', (s: Socket) => (socket = s));
    req.on('error', (err) => done({ response: failure(err), socket }));
    req.end(body);
  });
}

/** The NTLM CHALLENGE in a 401's WWW-Authenticate, if the server sent one. */
export function ntlmChallengeOf(challenge: string | string[] | undefined): string | undefined {
  const all = Array.isArray(challenge) ? challenge : (challenge ?? '').split(/,\s*(?=[A-Za-z]+(?:\s|$))/);
  return all.map((c) => c.trim()).find((c) => /^NTLM\s+\S+/i.test(c));
}

/** The EWS operation inside a SOAP body, for metrics: "<m:GetItem …" → GetItem. */
export function operationOf(xml: string): string {
  const body = xml.indexOf('Body');
  const m = /<(?:\w+:)?([A-Z]\w+)[\s>/]/.exec(body >= 0 ? xml.slice(body + 4) : xml);
  return m ? m[1] : 'Unknown';
}

/** HTTP 401 and why, from the challenge (Exchange Online names a refused token's fault there). */
export function unauthorizedReason(challenge: string | string[] | undefined): string {
  const text = Array.isArray(challenge) ? challenge.join(', ') : (challenge ?? '');
  const why = /error_description="([^"]*)"/.exec(text)?.[1];
  return why ? `HTTP 401: ${why}` : `HTTP 401${text ? ` (${text.split(',')[0]})` : ''}`;
}

export function backOffMsOf(xml: string): number | undefined {
  const m = /Name="BackOffMilliseconds"\s*>\s*(\d+)\s*</.exec(xml);
  return m ? Number(m[1]) : undefined;
}

/**
 * The XHR implementation we give ews-javascript-api (one per affinity group): keep-alive
 * agents, TLS verification, a timeout, the shared backoff gate before every request,
 * affinity headers and the backend cookie, metrics — and bodies the library can parse,
 * because it crashes on an empty or non-XML HTTP 500 (a proxy or load balancer answer).
 */
export class EwsHttp {
  readonly apiName = 'exchange-crm-sync';
  /** Extra headers on every request (X-AnchorMailbox, X-PreferServerAffinity). */
  readonly headers: Record<string, string>;
  /** X-BackEndOverrideCookie from the server, echoed on later requests of this group. */
  backendCookie: string | undefined;

  constructor(private readonly transport: EwsTransport, headers: Record<string, string> = {}) {
    this.headers = { ...headers };
  }

  xhr(options: XhrOptions): Promise<XhrResponse> {
    return this.send(options).then((response) => (response.status === 200 ? response : Promise.reject(response)));
  }

  xhrStream(): Promise<never> {
    return Promise.reject(new Error('streaming goes through StreamingReader, not ews-javascript-api'));
  }

  disconnect(): void {
    // nothing to do: requests are not long-lived here
  }

  /** Sends one request and always resolves with a response (status 0 for network failures). */
  send(options: XhrOptions): Promise<XhrResponse> {
    return this.transport.sockets.run(() => this.sendNow(options));
  }

  private async sendNow(options: XhrOptions, again = false): Promise<XhrResponse> {
    const { gate, metrics, timeoutMs, credentials } = this.transport.options;
    const body = options.data ?? '';
    const operation = operationOf(body);
    const held = again ? undefined : this.transport.heldBack();
    if (held) return Object.assign(xhrResponse(401, 'Unauthorized', {}, ''), { message: `${held.reason} (at ${new Date(held.at).toISOString()}; nothing is sent until one retry ${Math.round((this.transport.options.authRetryMs ?? 300_000) / 1000)} s after it)` });
    let authorization: string | undefined;
    try {
      authorization = await credentials?.header();
    } catch (err) {
      // the token endpoint refused for good (a wrong secret): held back like a refused password
      this.transport.authOutcome(isRetriable(err) ? 'unknown' : { refused: (err as Error).message });
      throw err;
    }
    await gate.pass();
    metrics?.requests.inc({ operation });
    const stop = metrics?.duration.startTimer({ operation });
    const headers: Record<string, string> = { ...(options.headers ?? {}), ...this.headers, 'content-length': String(Buffer.byteLength(body)) };
    if (this.backendCookie) headers.cookie = `X-BackEndOverrideCookie=${this.backendCookie}`;
    // ours, not the library's ("Authorization" from its credentials object; NTLM: none, the
    // connection is authenticated)
    if (credentials) for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    if (authorization) headers.authorization = authorization;
    const url = new URL(options.url);
    const https = url.protocol === 'https:';
    const method = options.type ?? 'POST';
    const response = credentials?.mode === 'ntlm'
      ? await this.viaNtlm(url, method, headers, body, credentials as NtlmCredentials)
      : (await roundTrip(url, method, headers, body, https ? this.transport.httpsAgent : this.transport.httpAgent, timeoutMs, (res, text) => this.toResponse(res, text))).response;
    stop?.();
    if (response.status === 401 && credentials?.mode === 'oauth' && authorization && !again) {
      // an expired or revoked token: one new token, one more try
      credentials.refused(authorization);
      return this.sendNow(options, true);
    }
    if (credentials) {
      this.transport.authOutcome(response.status === 0 ? 'unknown'
        : response.status === 401 ? { refused: String((response as { message?: string }).message ?? unauthorizedReason(response.headers['www-authenticate'])) } : 'accepted');
    }
    const busy = backOffMsOf(response.responseText);
    if (busy !== undefined || /ErrorServerBusy/.test(response.responseText)) {
      gate.block(busy ?? 1_000);
      metrics?.errors.inc({ operation, code: 'ErrorServerBusy' });
    } else if (response.status !== 200) {
      metrics?.errors.inc({ operation, code: responseCodeIn(response.responseText) ?? `HTTP_${response.status}` });
    }
    return response;
  }

  /**
   * NTLM authenticates a TCP connection: on a connection not yet authenticated (or no longer:
   * the server closed it), NEGOTIATE, then the request itself with AUTHENTICATE, on the same
   * socket. A refusal is not tried again with the same password — that would lock the account —
   * unless the server closed the socket between the two messages.
   */
  private async viaNtlm(url: URL, method: string, headers: Record<string, string>, body: string, credentials: NtlmCredentials): Promise<XhrResponse> {
    const { timeoutMs } = this.transport.options;
    const connection = this.transport.takeConnection();
    const agent = url.protocol === 'https:' ? connection.https : connection.http;
    const read = (res: IncomingMessage, text: string): XhrResponse => this.toResponse(res, text);
    try {
      if (connection.socket && !connection.socket.destroyed) {
        const r = await roundTrip(url, method, headers, body, agent, timeoutMs, read);
        if (r.response.status !== 401) return r.response;
      }
      connection.socket = undefined;
      for (let attempt = 0; ; attempt++) {
        const negotiated = await roundTrip(url, 'POST', { ...this.headers, authorization: credentials.negotiate(), 'content-length': '0' }, '', agent, timeoutMs, read);
        const offer = ntlmChallengeOf(negotiated.response.headers['www-authenticate']);
        if (negotiated.response.status !== 401 || !offer) {
          if (negotiated.response.status === 0) return negotiated.response;
          return Object.assign(negotiated.response, { status: negotiated.response.status === 200 ? 401 : negotiated.response.status, message: `NTLM: the server answered NEGOTIATE without a CHALLENGE (HTTP ${negotiated.response.status}; it offers ${String(negotiated.response.headers['www-authenticate'] ?? 'nothing')}): is Windows authentication on for the EWS virtual directory?` });
        }
        const r = await roundTrip(url, method, { ...headers, authorization: credentials.authenticate(offer) }, body, agent, timeoutMs, read);
        if (r.response.status !== 401) {
          connection.socket = r.socket;
          return r.response;
        }
        if (attempt > 0 || r.socket === negotiated.socket) {
          return Object.assign(r.response, { message: `NTLM: Exchange refused ${credentials.account} (HTTP 401): the password is wrong, or the account is locked, disabled or not allowed to use EWS` });
        }
      }
    } finally {
      this.transport.returnConnection(connection);
    }
  }

  private toResponse(res: IncomingMessage, text: string): XhrResponse {
    const cookie = res.headers['x-backendoverridecookie'];
    if (typeof cookie === 'string' && cookie) this.backendCookie = cookie;
    let responseText = text;
    const status = res.statusCode ?? 0;
    if (status === 500 && !/<(?:\w+:)?Envelope[\s>]/.test(text)) {
      // The library only understands SOAP faults on a 500; give it one.
      responseText = syntheticFault('ErrorInternalServerError', `HTTP 500 without a SOAP body: ${text.slice(0, 200)}`);
    }
    const response = xhrResponse(status, res.statusMessage ?? '', res.headers as Record<string, string | string[] | undefined>, responseText);
    // the library rejects with the response: its message is what an operator reads
    if (status === 401) Object.assign(response, { message: unauthorizedReason(res.headers['www-authenticate']) });
    return response;
  }
}

/** A response as it came (the handshake's messages need nothing more). */
export function plainResponse(res: IncomingMessage, text: string): XhrResponse {
  return xhrResponse(res.statusCode ?? 0, res.statusMessage ?? '', res.headers as Record<string, string | string[] | undefined>, text);
}

function failure(err: Error & { code?: string }): XhrResponse {
  const response = xhrResponse(0, err.message, {}, '');
  return Object.assign(response, { message: err.message, code: err.code ?? 'SOCKET' });
}

function xhrResponse(status: number, statusText: string, headers: Record<string, string | string[] | undefined>, responseText: string): XhrResponse {
  return {
    responseText,
    status,
    statusText,
    headers,
    getAllResponseHeaders: () => Object.entries(headers).map(([k, v]) => `${k} : ${String(v)}\r\n`).join(''),
    getResponseHeader: (name: string) => {
      const v = headers[name.toLowerCase()];
      return v === undefined ? null : String(v);
    },
  };
}

function syntheticFault(code: string, message: string): string {
  const escaped = message.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
  return (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>' +
    `<faultcode>s:Server</faultcode><faultstring>${escaped}</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">${code}</e:ResponseCode>` +
    `<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">${escaped}</e:Message></detail></s:Fault></s:Body></s:Envelope>`
  );
}
