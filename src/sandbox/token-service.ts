import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { generate } from 'selfsigned';

/**
 * The sandbox's Microsoft Entra ID: an HTTPS token endpoint for the OAuth 2.0 client
 * credentials grant (client secret, or a client assertion signed with the app's
 * certificate) issuing signed JWT access tokens, and the checks Exchange Online makes on
 * the Bearer token of every EWS request (signature, expiry, audience, the
 * full_access_as_app role). MSAL refuses an authority that is not HTTPS, so this endpoint
 * serves TLS with a certificate the sandbox makes at start (its PEM is `ca`).
 */
export interface OAuthApp {
  readonly tenant: string;
  readonly clientId: string;
  /** The client secret, when the app has one. */
  readonly clientSecret?: string;
  /** The app's certificate (PEM) for client assertions, when it has one. */
  readonly certificate?: string;
  /** The application permission Exchange needs; an app without it gets tokens Exchange refuses. */
  readonly roles?: readonly string[];
  /** Its Microsoft Graph application permissions (admin consented); default Calendars.ReadWrite, Contacts.ReadWrite, Tasks.ReadWrite.All, User.Read.All (translateExchangeIds). */
  readonly graphRoles?: readonly string[];
}

export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
const DEFAULT_GRAPH_ROLES = ['Calendars.ReadWrite', 'Contacts.ReadWrite', 'Tasks.ReadWrite.All', 'User.Read.All'];

export interface TokenServiceOptions {
  readonly apps: readonly OAuthApp[];
  /** Token lifetime in seconds (Entra ID: 60–90 minutes). */
  readonly lifetimeSeconds?: number;
}

/** Why a Bearer token was refused (the WWW-Authenticate error_description). */
export type BearerCheck = { ok: true; app: OAuthApp } | { ok: false; reason: string };

export const EXCHANGE_AUDIENCE = 'https://outlook.office365.com';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');
const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signed: string; signature: Buffer } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>,
      signed: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export class TokenService {
  /** The TLS certificate of the token endpoint (PEM), for clients to trust; the Graph endpoint serves it too. */
  ca = '';
  /** Its private key (PEM), for the sandbox's other TLS endpoints. */
  tlsKey = '';
  url = '';
  issued = 0;
  refused = 0;
  private server: Server | undefined;
  private signingKey: KeyObject;
  private verifyKey: KeyObject;
  private readonly lifetimeSeconds: number;

  constructor(private readonly options: TokenServiceOptions) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.verifyKey = publicKey;
    this.lifetimeSeconds = options.lifetimeSeconds ?? 3_600;
  }

  async start(): Promise<void> {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048, algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
    });
    this.ca = pems.cert;
    this.tlsKey = pems.private;
    const server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      void this.handle(req, res).catch(() => json(res, 500, { error: 'server_error' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The authority a client configures: https://…/<tenant>. */
  authority(tenant: string): string {
    return `${this.url}/${tenant}`;
  }

  /** Every token issued so far stops working (a new signing key), as after a revocation. */
  revokeAll(): void {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.verifyKey = publicKey;
  }

  /** Checks a Bearer token as Exchange Online's EWS does. */
  check(token: string): BearerCheck {
    return this.checkFor(token, EXCHANGE_AUDIENCE, ['full_access_as_app'], 'the token lacks the full_access_as_app role (application permission not granted)');
  }

  /** The roles of a valid Microsoft Graph token (which permission a request needs is the caller's to check). */
  checkGraph(token: string): BearerCheck & { roles?: readonly string[] } {
    const checked = this.checkFor(token, GRAPH_AUDIENCE, [], '');
    if (!checked.ok) return checked;
    const roles = decodeJwt(token)?.claims.roles;
    return { ...checked, roles: Array.isArray(roles) ? roles.map(String) : [] };
  }

  private checkFor(token: string, audience: string, needed: readonly string[], lacking: string): BearerCheck {
    const jwt = decodeJwt(token);
    if (!jwt || jwt.header.alg !== 'RS256') return { ok: false, reason: 'the token is not a signed JWT' };
    if (!verify('sha256', Buffer.from(jwt.signed), this.verifyKey, jwt.signature)) return { ok: false, reason: 'the token signature is invalid' };
    const now = Math.floor(Date.now() / 1000);
    if (typeof jwt.claims.exp !== 'number' || jwt.claims.exp <= now) return { ok: false, reason: 'the token has expired' };
    if (jwt.claims.aud !== audience) return { ok: false, reason: `the audience ${String(jwt.claims.aud)} is not ${audience}` };
    const app = this.options.apps.find((a) => a.clientId === jwt.claims.appid && a.tenant === jwt.claims.tid);
    if (!app) return { ok: false, reason: 'the token names an unknown application' };
    const roles = Array.isArray(jwt.claims.roles) ? jwt.claims.roles : [];
    if (!needed.every((r) => roles.includes(r))) return { ok: false, reason: lacking };
    return { ok: true, app };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token|discovery\/v2\.0\/keys)$/.exec(url.pathname);
    const tenant = m?.[1] ?? '';
    if (!m || !this.options.apps.some((a) => a.tenant === tenant)) return json(res, 400, { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
    const base = `${this.url}/${tenant}`;
    if (m[2].startsWith('v2.0')) {
      return json(res, 200, {
        issuer: `${base}/v2.0`, token_endpoint: `${base}/oauth2/v2.0/token`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        jwks_uri: `${base}/discovery/v2.0/keys`, end_session_endpoint: `${base}/oauth2/v2.0/logout`, response_types_supported: ['code', 'token'],
        subject_types_supported: ['pairwise'], id_token_signing_alg_values_supported: ['RS256'], token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
      });
    }
    if (m[2].startsWith('discovery')) return json(res, 200, { keys: [{ kty: 'RSA', use: 'sig', kid: 'sandbox', ...this.verifyKey.export({ format: 'jwk' }) }] });
    if (req.method !== 'POST') return json(res, 405, { error: 'invalid_request' });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const refuse = (error: string, description: string): void => {
      this.refused++;
      json(res, error === 'invalid_client' ? 401 : 400, { error, error_description: description });
    };
    if (form.get('grant_type') !== 'client_credentials') return refuse('unsupported_grant_type', 'AADSTS70003: only client_credentials is served here');
    const app = this.options.apps.find((a) => a.tenant === tenant && a.clientId === form.get('client_id'));
    if (!app) return refuse('unauthorized_client', `AADSTS700016: Application with identifier '${form.get('client_id') ?? ''}' was not found in the directory '${tenant}'.`);
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!app.clientSecret || secret !== app.clientSecret) return refuse('invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    } else if (assertion !== null && form.get('client_assertion_type') === ASSERTION_TYPE) {
      const why = this.checkAssertion(app, assertion, `${base}/oauth2/v2.0/token`);
      if (why) return refuse('invalid_client', why);
    } else {
      return refuse('invalid_client', 'AADSTS7000218: The request body must contain client_assertion or client_secret.');
    }
    const scope = form.get('scope') ?? '';
    // one resource per token: Exchange Online's (EWS) or Microsoft Graph's, with that resource's roles
    const audience = [EXCHANGE_AUDIENCE, GRAPH_AUDIENCE].find((a) => scope.split(' ').includes(`${a}/.default`));
    if (!audience) return refuse('invalid_scope', `AADSTS1002012: The provided value for scope ${scope} is not valid.`);
    const roles = audience === GRAPH_AUDIENCE ? (app.graphRoles ?? DEFAULT_GRAPH_ROLES) : (app.roles ?? ['full_access_as_app']);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      aud: audience, iss: `https://sts.windows.net/${tenant}/`, iat: now, nbf: now, exp: now + this.lifetimeSeconds,
      appid: app.clientId, tid: tenant, roles: [...roles], oid: randomUUID(), ver: '1.0',
    };
    const signed = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: 'sandbox' }))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signed}.${b64url(sign('sha256', Buffer.from(signed), this.signingKey))}`;
    this.issued++;
    json(res, 200, { token_type: 'Bearer', expires_in: this.lifetimeSeconds, ext_expires_in: this.lifetimeSeconds, access_token: token });
  }

  /** A client assertion: signed by the app's certificate, for this token endpoint, not expired. Undefined when good. */
  private checkAssertion(app: OAuthApp, assertion: string, audience: string): string | undefined {
    if (!app.certificate) return 'AADSTS700027: the application has no certificate registered';
    const jwt = decodeJwt(assertion);
    if (!jwt || (jwt.header.alg !== 'RS256' && jwt.header.alg !== 'PS256')) return 'AADSTS50027: the client assertion is not a signed JWT';
    const key = createPublicKey(app.certificate);
    const ok = jwt.header.alg === 'PS256'
      ? verify('sha256', Buffer.from(jwt.signed), { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }, jwt.signature)
      : verify('sha256', Buffer.from(jwt.signed), key, jwt.signature);
    if (!ok) return 'AADSTS700027: Client assertion contains an invalid signature.';
    const now = Math.floor(Date.now() / 1000);
    if (typeof jwt.claims.exp !== 'number' || jwt.claims.exp <= now) return 'AADSTS700024: Client assertion is not within its valid time range.';
    if (jwt.claims.aud !== audience) return `AADSTS700212: the client assertion's audience is not ${audience}`;
    if (jwt.claims.iss !== app.clientId || jwt.claims.sub !== app.clientId) return 'AADSTS700023: the client assertion names another client';
    return undefined;
  }
}
