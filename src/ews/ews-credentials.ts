import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ntlm from '@ewsjs/ntlm-client';
import { request, Agent } from 'node:https';
import type { ConfidentialClientApplication, Configuration, INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import type { EwsSettings } from '../config/index.js';
import { ewsError } from './ews-error.js';

/**
 * How every EWS request authenticates: the Authorization header it carries. Basic sends the
 * service account's password; OAuth sends an app-only access token (client credentials),
 * cached and renewed before it expires, and acquired anew once when Exchange refuses it.
 */
export interface EwsCredentials {
  readonly mode: 'basic' | 'oauth' | 'ntlm';
  /** The Authorization header for the next request. */
  header(): Promise<string>;
  /** Exchange answered 401 to this header: the next header() acquires a new token. */
  refused(header: string): void;
}

export function basicCredentials(user: string, password: string): EwsCredentials {
  const header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return { mode: 'basic', header: async () => header, refused: () => undefined };
}

/**
 * NTLM (what the EWS virtual directory of Exchange 2016/2019 offers out of the box): it
 * authenticates a TCP connection, so the transport runs the handshake on each new connection
 * with these messages (@ewsjs/ntlm-client builds them; NTLMv2 when the server asks for it).
 */
export class NtlmCredentials implements EwsCredentials {
  readonly mode = 'ntlm' as const;
  /** DOMAIN\\user or user@domain, as configured (for messages). */
  readonly account: string;
  private readonly user: string;
  private readonly domain: string;

  constructor(user: string, private readonly password: string, private readonly workstation = 'EXCHANGE-CRM-SYNC') {
    this.account = user;
    const slash = user.indexOf('\\');
    // DOMAIN\user, or a UPN (the domain part is then the user's, the NTLM domain left empty)
    this.domain = slash > 0 ? user.slice(0, slash) : '';
    this.user = slash > 0 ? user.slice(slash + 1) : user;
  }

  /** No header of its own per request: the connection carries the authentication. */
  async header(): Promise<string> {
    return '';
  }

  refused(): void {
    // a refused AUTHENTICATE is final for this password (trying again would lock the account)
  }

  negotiate(): string {
    return ntlm.createType1Message(this.workstation, this.domain);
  }

  /** AUTHENTICATE for the server's CHALLENGE ("NTLM <base64>"). */
  authenticate(challenge: string): string {
    return ntlm.createType3Message(ntlm.decodeType2Message(challenge), this.user, this.password, this.workstation, this.domain);
  }
}

export interface OAuthSettings {
  /** https://login.microsoftonline.com/<tenant> (or the sandbox's, or an AD FS authority). */
  readonly authority: string;
  readonly clientId: string;
  /** The client secret; empty when a certificate is used. */
  readonly clientSecret: string;
  /** PEM holding the app's certificate and its private key (recommended over a secret). */
  readonly certificatePem?: string;
  /** https://outlook.office365.com/.default for Exchange Online. */
  readonly scope: string;
}

export interface OAuthCredentialsOptions {
  readonly settings: OAuthSettings;
  /** Extra CA certificates (PEM) the token endpoint's TLS is verified against. */
  readonly ca?: string;
}

/** The token endpoint refused, or could not be reached: a clear, non-secret reason. */
function tokenError(err: unknown): Error {
  const e = err as { errorCode?: string; errorMessage?: string; message?: string };
  const raw = (e.errorMessage || e.message || String(err)).split('\n')[0];
  // msal wraps the server's answer: "Error(s): … - Description: AADSTS…: text - Correlation ID: …"
  const text = (/Description: (.*?)(?: - Correlation ID:.*)?$/.exec(raw)?.[1] ?? raw).replace(/Trace ID:.*$/, '').trim();
  // invalid_client / unauthorized_client never heal on their own; a network failure may
  const retriable = !/invalid_client|unauthorized_client|invalid_scope|invalid_tenant|invalid_request/.test(`${e.errorCode ?? ''} ${text}`);
  return ewsError(retriable ? 'ErrorConnectionFailed' : 'ErrorOAuthTokenRefused', `auth="oauth": the token endpoint refused: ${e.errorCode ? `${e.errorCode}: ` : ''}${text}`, { cause: err });
}

export class OAuthCredentials implements EwsCredentials {
  readonly mode = 'oauth' as const;
  /** msal is loaded with the first token (16 MiB a process without OAuth never needs). */
  private app: Promise<ConfidentialClientApplication> | undefined;
  private readonly config: Omit<Configuration, 'system'> & { system: Omit<NonNullable<Configuration['system']>, 'loggerOptions'> };
  private readonly scopes: string[];
  /** A header Exchange refused: the next token is not taken from the cache. */
  private stale: string | undefined;

  constructor(options: OAuthCredentialsOptions) {
    const { settings } = options;
    const certificate = settings.certificatePem ? clientCertificateOf(settings.certificatePem) : undefined;
    this.config = {
      auth: {
        clientId: settings.clientId, authority: settings.authority,
        // the authority is used as configured: no instance discovery against login.microsoftonline.com
        knownAuthorities: [new URL(settings.authority).host],
        ...(certificate ? { clientCertificate: certificate } : { clientSecret: settings.clientSecret }),
      },
      system: { networkClient: new TokenEndpointClient(options.ca) },
    };
    this.scopes = [settings.scope];
  }

  private application(): Promise<ConfidentialClientApplication> {
    this.app ??= import('@azure/msal-node').then((msal) => new msal.ConfidentialClientApplication({
      ...this.config,
      // msal's own log never carries secrets with PII logging off; errors reach us as exceptions
      system: { ...this.config.system, loggerOptions: { piiLoggingEnabled: false, logLevel: msal.LogLevel.Error, loggerCallback: () => undefined } },
    }));
    return this.app;
  }

  async header(): Promise<string> {
    const skipCache = this.stale !== undefined;
    let result;
    try {
      result = await (await this.application()).acquireTokenByClientCredential({ scopes: this.scopes, skipCache });
    } catch (err) {
      throw tokenError(err);
    }
    if (!result?.accessToken) throw ewsError('ErrorOAuthTokenRefused', 'auth="oauth": the token endpoint answered without an access token');
    const header = `Bearer ${result.accessToken}`;
    if (header !== this.stale) this.stale = undefined;
    return header;
  }

  refused(header: string): void {
    this.stale = header;
  }
}

/** A PEM with the app's certificate and private key → what msal signs client assertions with. */
function clientCertificateOf(pem: string): { thumbprintSha256: string; privateKey: string; x5c: string } {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key = /-----BEGIN (?:RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!cert || !key) throw new Error('the certificate file needs a CERTIFICATE and an unencrypted PRIVATE KEY (PEM)');
  return { thumbprintSha256: new X509Certificate(cert).fingerprint256.replace(/:/g, ''), privateKey: key, x5c: cert };
}

/** The credentials the settings ask for (files are read here, once, at start). */
export function credentialsOf(settings: EwsSettings): EwsCredentials {
  if (settings.auth === 'ntlm') return new NtlmCredentials(settings.user, settings.password);
  if (settings.auth !== 'oauth' || !settings.oauth) return basicCredentials(settings.user, settings.password);
  const { certificateFile, ...oauth } = settings.oauth;
  return new OAuthCredentials({
    settings: { ...oauth, ...(certificateFile ? { certificatePem: readFileSync(certificateFile, 'utf8') } : {}) },
    ...(settings.caFile ? { ca: readFileSync(settings.caFile, 'utf8') } : {}),
  });
}

/**
 * msal's HTTP for the token endpoint, on node:https: msal-node's own client goes through
 * fetch, which takes no per-client CA, and an operator behind a TLS-inspecting proxy or with a
 * private AD FS needs one (caFile). Certificates are always verified.
 */
class TokenEndpointClient implements INetworkModule {
  private readonly agent: Agent;

  constructor(ca: string | undefined) {
    this.agent = new Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private send<T>(method: string, url: string, options: NetworkRequestOptions | undefined, timeoutMs = 30_000): Promise<NetworkResponse<T>> {
    const body = options?.body ?? '';
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers: { ...(options?.headers ?? {}), ...(method === 'POST' ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { error: 'invalid_response', error_description: `the token endpoint answered HTTP ${res.statusCode ?? 0} without JSON` };
          }
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
          resolve({ status: res.statusCode ?? 0, headers, body: parsed as T });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`the token endpoint did not answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(method === 'POST' ? body : undefined);
    });
  }
}
