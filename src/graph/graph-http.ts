import { Agent, request } from 'node:https';
import { Limiter } from '../shared/limiter.js';
import { GraphApiError } from './graph-error.js';

/** Where the access token comes from (msal's client-credentials flow, or a test's). */
export interface GraphTokens {
  header(): Promise<string>;
  /** Graph refused this header (401): the next one is not taken from the cache. */
  refused(header: string): void;
}

export interface GraphHttpOptions {
  /** https://graph.microsoft.com/v1.0, or the sandbox's. */
  readonly url: string;
  readonly tokens: GraphTokens;
  /** Extra CA certificates (PEM) Graph's TLS is verified against; verification is never off. */
  readonly ca?: string;
  /** A deadline for each request, headers and body (ms). */
  readonly timeoutMs: number;
  /** Requests under way at once: Outlook allows an app 4, across all mailboxes. */
  readonly concurrency?: number;
  /** How often a throttled (429) request is tried again after its Retry-After. */
  readonly throttleRetries?: number;
}

export interface GraphResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** One request of a $batch, and its answer. */
export interface BatchPart {
  readonly method: string;
  /** Relative to the version: /users/…/events/… */
  readonly url: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

const BATCH_SIZE = 20;

/**
 * JSON over HTTPS to Microsoft Graph with the app's token: at most 4 requests under way (the
 * Outlook limit per app), a total deadline per request, 429's Retry-After waited for (by every
 * request: the limit is the app's), `$batch` in twenties. Written on node:https rather than a
 * Graph SDK: the SDK's fetch takes no per-client CA and no total deadline, and the sync uses
 * a dozen URLs.
 */
export class GraphHttp {
  private readonly agent: Agent;
  private readonly limiter: Limiter;
  private pausedUntil = 0;
  private refusal: string | null = null;
  requests = 0;
  throttled = 0;

  constructor(private readonly options: GraphHttpOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 4, ...(options.ca ? { ca: options.ca } : {}) });
    this.limiter = new Limiter(options.concurrency ?? 4);
  }

  get baseUrl(): string {
    return this.options.url;
  }

  /** Why Graph refuses the app's token now (for /readyz), or null. */
  authRefusal(): string | null {
    return this.refusal;
  }

  /** One call; an error status is thrown as a GraphApiError unless `accept` lists it. */
  async call(method: string, pathOrUrl: string, init: { body?: unknown; headers?: Record<string, string>; accept?: readonly number[]; context?: Record<string, unknown> } = {}): Promise<GraphResponse> {
    const url = pathOrUrl.startsWith('https://') ? pathOrUrl : `${this.options.url}${pathOrUrl}`;
    for (let attempt = 0; ; attempt++) {
      const response = await this.limiter.run(async () => {
        const wait = this.pausedUntil - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        return this.once(method, url, init.body, init.headers ?? {});
      });
      if (response.status === 429 && attempt < (this.options.throttleRetries ?? 4)) {
        this.throttled++;
        this.pause(retryAfterMs(response.headers['retry-after']));
        continue;
      }
      if (response.status < 400 || init.accept?.includes(response.status)) return response;
      throw errorOf(method, url, response, init.context);
    }
  }

  /** Requests in batches of 20; the answers in the order asked. A throttled part is sent again after its Retry-After. */
  async batch(parts: readonly BatchPart[]): Promise<GraphResponse[]> {
    const answers: GraphResponse[] = new Array(parts.length);
    for (let from = 0; from < parts.length; from += BATCH_SIZE) {
      let pending = parts.slice(from, from + BATCH_SIZE).map((part, i) => ({ part, index: from + i }));
      for (let attempt = 0; pending.length; attempt++) {
        const response = await this.call('POST', '/$batch', {
          body: { requests: pending.map(({ part, index }) => ({ id: String(index), method: part.method, url: part.url, ...(part.body !== undefined ? { body: part.body, headers: { 'content-type': 'application/json', ...part.headers } } : part.headers ? { headers: part.headers } : {}) })) },
        });
        const responses = (response.body as { responses?: Array<{ id: string; status: number; headers?: Record<string, string>; body?: unknown }> }).responses ?? [];
        const throttled: typeof pending = [];
        let wait = 0;
        for (const r of responses) {
          const entry = pending.find((p) => String(p.index) === r.id);
          if (!entry) continue;
          const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
          if (r.status === 429 && attempt < (this.options.throttleRetries ?? 4)) {
            throttled.push(entry);
            wait = Math.max(wait, retryAfterMs(headers['retry-after']));
            continue;
          }
          answers[entry.index] = { status: r.status, headers, body: r.body };
        }
        for (const p of pending) if (!answers[p.index] && !throttled.includes(p)) answers[p.index] = { status: 500, headers: {}, body: { error: { code: 'MissingBatchResponse', message: 'the batch answered without this request' } } };
        if (throttled.length) {
          this.throttled++;
          this.pause(wait);
        }
        pending = throttled;
      }
    }
    return answers;
  }

  close(): void {
    this.agent.destroy();
  }

  /** Graph told the app to wait: every request of it waits (the limits are the app's). */
  private pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  private async once(method: string, url: string, body: unknown, extra: Record<string, string>): Promise<GraphResponse> {
    let auth: string;
    try {
      auth = await this.options.tokens.header();
    } catch (err) {
      this.refusal = `the token endpoint refused the app: ${err instanceof Error ? err.message : String(err)}`;
      throw new GraphApiError(401, 'TokenRefused', this.refusal, { cause: err });
    }
    this.requests++;
    const response = await this.send(method, url, body, { ...extra, authorization: auth });
    if (response.status === 401) {
      this.options.tokens.refused(auth);
      this.refusal = `Microsoft Graph refuses the app's token: ${(response.body as { error?: { message?: string } } | undefined)?.error?.message ?? 'HTTP 401'}`;
    } else this.refusal = null;
    return response;
  }

  private send(method: string, url: string, body: unknown, headers: Record<string, string>): Promise<GraphResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: GraphApiError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        req.destroy();
        reject(err);
      };
      const req = request(url, {
        method, agent: this.agent,
        headers: { accept: 'application/json', ...headers, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(new GraphApiError(0, 'SOCKET', `${method} ${redactQuery(url)}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = { error: { code: `HTTP_${res.statusCode ?? 0}`, message: `the answer was not JSON (${text.length} bytes)` } };
            if ((res.statusCode ?? 0) < 400) return reject(new GraphApiError(502, 'MalformedResponse', `${method} ${redactQuery(url)}: the answer was not JSON (${text.length} bytes)`));
          }
          const h = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
          resolve({ status: res.statusCode ?? 0, headers: h, body: parsed });
        });
      });
      const deadline = setTimeout(() => fail(new GraphApiError(0, 'TIMEOUT', `no answer within ${timeoutMs} ms from ${redactQuery(url)} (graph@timeout)`)), timeoutMs);
      req.on('error', (err) => fail(new GraphApiError(0, (err as NodeJS.ErrnoException).code ?? 'SOCKET', `${method} ${redactQuery(url)}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }
}

function retryAfterMs(header: string | undefined): number {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 600) * 1000 : 2_000;
}

/** Delta and skip tokens are long and say nothing to an operator: the path is enough. */
function redactQuery(url: string): string {
  return url.split('?')[0];
}

function errorOf(method: string, url: string, response: GraphResponse, context?: Record<string, unknown>): GraphApiError {
  const error = (response.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const code = error?.code ?? `HTTP_${response.status}`;
  const retryAfter = response.headers['retry-after'] !== undefined ? retryAfterMs(response.headers['retry-after']) : undefined;
  return new GraphApiError(response.status, code, `${method} ${redactQuery(url)}: HTTP ${response.status} ${code}: ${error?.message ?? ''}`.trim(), { retryAfterMs: retryAfter, context });
}

/** A batch part's answer as an error (or undefined when it succeeded or is `accept`ed). */
export function batchError(part: BatchPart, response: GraphResponse, accept: readonly number[] = []): GraphApiError | undefined {
  if (response.status < 400 || accept.includes(response.status)) return undefined;
  return errorOf(part.method, part.url, response);
}
