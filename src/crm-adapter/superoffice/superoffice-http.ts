import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BackoffGate } from '../../shared/backoff-gate.js';
import { CrmError } from '../../shared/errors.js';

/** How the sync logs in to SuperOffice (each secret read from the environment). */
export type SuperOfficeCredentials =
  | { readonly kind: 'basic'; readonly user: string; readonly password: string }
  | { readonly kind: 'ticket'; readonly ticket: string }
  | { readonly kind: 'bearer'; readonly token: string };

export interface SuperOfficeHttpOptions {
  /** The tenant's Web API base, …/api/v1. */
  readonly url: string;
  readonly credentials: SuperOfficeCredentials;
  /** SO-AppToken: the partner application's token (SuperOffice Online, server to server). */
  readonly appToken?: string;
  readonly tlsVerify: boolean;
  readonly timeoutMs: number;
  readonly maxSockets: number;
  /** Told of every request (metrics, benchmarks: requests per change). */
  readonly onRequest?: (method: string, status: number) => void;
}

export interface SoResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  /** The server's clock (the Date header), ms. */
  readonly serverTime: number | undefined;
}

/** Statuses worth the same request again later. */
const RETRIABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Requests to SuperOffice's Web API: JSON in and out, keep-alive sockets, TLS verified unless
 * turned off, dates asked for in UTC (SO-TimeZone), a timeout, and one backoff gate — after a
 * 429 or 503 with Retry-After nobody sends until it has passed. A failure is a CrmError:
 * retriable for the network, 408/429/5xx; not for the rest (a 400 refuses the change).
 * `expect` lists the statuses the caller handles itself (404, 409, 412 …).
 */
export class SuperOfficeHttp {
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly base: URL;
  private readonly authorization: string;
  readonly gate = new BackoffGate();

  constructor(private readonly options: SuperOfficeHttpOptions) {
    this.base = new URL(options.url.replace(/\/+$/, ''));
    this.agent = this.base.protocol === 'https:'
      ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets, rejectUnauthorized: options.tlsVerify })
      : new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets });
    const c = options.credentials;
    this.authorization = c.kind === 'basic' ? `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}` : c.kind === 'ticket' ? `SOTICKET ${c.ticket}` : `Bearer ${c.token}`;
  }

  /** An absolute URL of the API (an odata.nextLink) or a path below the base. */
  resolve(pathOrUrl: string): URL {
    return /^https?:\/\//.test(pathOrUrl) ? new URL(pathOrUrl) : new URL(`${this.base.pathname}${pathOrUrl.startsWith('/') ? '' : '/'}${pathOrUrl}`, this.base);
  }

  async request<T = unknown>(method: string, pathOrUrl: string, body?: unknown, options: { headers?: Record<string, string>; expect?: readonly number[] } = {}): Promise<SoResponse<T>> {
    await this.gate.pass();
    const url = this.resolve(pathOrUrl);
    const what = `${method} ${url.pathname}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let res: { status: number; text: string; headers: IncomingMessage['headers'] };
    try {
      res = await this.send(method, url, payload, options.headers ?? {});
    } catch (err) {
      throw new CrmError('UNREACHABLE', `SuperOffice did not answer ${what}: ${(err as Error).message}`, { retriable: true, cause: err });
    }
    this.options.onRequest?.(method, res.status);
    const serverTime = typeof res.headers.date === 'string' ? Date.parse(res.headers.date) : undefined;
    const ok = (res.status >= 200 && res.status < 300) || res.status === 304 || options.expect?.includes(res.status);
    if (!ok) {
      if (res.status === 429 || res.status === 503) {
        const after = Number(res.headers['retry-after']);
        this.gate.block(Number.isFinite(after) && after > 0 ? after * 1000 : 1_000);
      }
      const message = errorMessage(res.text) ?? res.text.slice(0, 300);
      throw new CrmError(`HTTP_${res.status}`, `SuperOffice answered ${res.status} to ${what}: ${message}`, { retriable: RETRIABLE_STATUS.has(res.status), context: { status: res.status } });
    }
    let parsed: unknown;
    if (res.text) {
      try {
        parsed = JSON.parse(res.text);
      } catch (err) {
        throw new CrmError('MALFORMED_ANSWER', `SuperOffice answered ${what} with something that is not JSON: ${res.text.slice(0, 120)}`, { retriable: true, cause: err });
      }
    }
    return { status: res.status, body: parsed as T, serverTime: Number.isNaN(serverTime) ? undefined : serverTime };
  }

  private send(method: string, url: URL, payload: Buffer | undefined, extra: Record<string, string>): Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }> {
    const headers: Record<string, string | number> = {
      authorization: this.authorization, accept: 'application/json', 'so-timezone': 'UTC', ...extra,
      ...(this.options.appToken ? { 'so-apptoken': this.options.appToken } : {}),
      ...(payload ? { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length } : {}),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent, timeout: this.options.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** SuperOffice's error body: { Error, ErrorType, ErrorMessage, ErrorSource }. */
function errorMessage(text: string): string | undefined {
  try {
    const e = JSON.parse(text) as { ErrorType?: string; ErrorMessage?: string };
    return e.ErrorMessage ? `${e.ErrorType ?? 'Error'}: ${e.ErrorMessage}` : undefined;
  } catch {
    return undefined;
  }
}
