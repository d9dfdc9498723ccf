import { responseCodeIn } from './ews-response-codes.js';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { BackoffGate } from '../shared/backoff-gate.js';
import type { EwsMetrics } from './ews-metrics.js';
import { Limiter } from '../shared/limiter.js';
import type { EwsCredentials } from './ews-credentials.js';

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
  constructor(readonly options: EwsTransportOptions) {
    this.sockets = new Limiter(options.maxSockets);
    this.httpAgent = new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets });
    // TLS is verified unless the operator turned it off explicitly (tlsVerify="false").
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets, rejectUnauthorized: options.tlsVerify });
    this.streamingHttpAgent = new HttpAgent({ keepAlive: false });
    this.streamingHttpsAgent = new HttpsAgent({ keepAlive: false, rejectUnauthorized: options.tlsVerify });
  }

  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.streamingHttpAgent.destroy();
    this.streamingHttpsAgent.destroy();
  }
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
    const authorization = await credentials?.header();
    await gate.pass();
    metrics?.requests.inc({ operation });
    const stop = metrics?.duration.startTimer({ operation });
    const headers: Record<string, string> = { ...(options.headers ?? {}), ...this.headers, 'content-length': String(Buffer.byteLength(body)) };
    if (this.backendCookie) headers.cookie = `X-BackEndOverrideCookie=${this.backendCookie}`;
    if (authorization) headers.authorization = authorization;
    const url = new URL(options.url);
    const https = url.protocol === 'https:';
    const response = await new Promise<XhrResponse>((resolve) => {
      const req = (https ? httpsRequest : httpRequest)(
        url,
        { method: options.type ?? 'POST', headers, agent: https ? this.transport.httpsAgent : this.transport.httpAgent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(this.toResponse(res, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', (err) => resolve(failure(err)));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' })));
      req.on('error', (err) => resolve(failure(err)));
      req.end(body);
    });
    stop?.();
    if (response.status === 401 && credentials?.mode === 'oauth' && authorization && !again) {
      // an expired or revoked token: one new token, one more try
      credentials.refused(authorization);
      return this.sendNow(options, true);
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
