import ews from 'ews-javascript-api';
import type { EwsSettings } from '../config/index.js';
import { BackoffGate } from '../shared/backoff-gate.js';
import { Limiter } from '../shared/limiter.js';
import { credentialsOf } from './ews-credentials.js';
import { toEwsError } from './ews-error.js';
import { EwsHttp, EwsTransport } from './ews-http.js';

/** Where Autodiscover says a mailbox lives. */
export type AutodiscoveredHome = 'on-premises' | 'online';

/** Users per GetUserSettings request: Exchange refuses more than 100. */
const USERS_PER_REQUEST = 100;
/** Answers are kept this long: a mailbox is asked again at most this often. */
const KEPT_MS = 15 * 60_000;

/** The Autodiscover URL beside an EWS URL (`https://mail.contoso.com/autodiscover/autodiscover.svc`). */
export function autodiscoverUrlOf(ewsUrl: string): string {
  return new URL('/autodiscover/autodiscover.svc', ewsUrl).toString();
}

/**
 * On-premises Autodiscover (SOAP GetUserSettings, through ews-javascript-api's
 * AutodiscoverService and our transport: the EWS account's credentials, TLS rules and
 * deadline) asked where a hybrid organisation's mailboxes live: a mailbox Exchange moved to
 * Exchange Online is a remote mailbox on premises, and Autodiscover answers RedirectAddress
 * with its address in the tenant. Up to 100 mailboxes per request, 4 requests at a time;
 * answers are kept 15 minutes.
 */
export class MailboxAutodiscover {
  readonly url: string;
  private readonly transport: EwsTransport;
  private readonly settings: EwsSettings;
  private readonly answers = new Map<string, { home: AutodiscoveredHome | undefined; at: number }>();
  /** Requests sent (for tests and the status page). */
  requests = 0;
  private readonly limiter = new Limiter(4);

  constructor(settings: EwsSettings, url?: string, private readonly now: () => number = Date.now) {
    if (!settings.url) throw new Error('Autodiscover needs the EWS url');
    this.settings = settings;
    this.url = url || autodiscoverUrlOf(settings.url);
    this.transport = new EwsTransport({ tlsVerify: settings.tlsVerify, timeoutMs: settings.requestTimeoutMs, maxSockets: 4, gate: new BackoffGate(), credentials: credentialsOf(settings) });
  }

  /**
   * Where each mailbox lives by Autodiscover's answer; a mailbox it does not know (InvalidUser)
   * or could not answer for is left out. A failed request fails the call (the caller keeps
   * what it knew).
   */
  async homes(mailboxes: readonly string[]): Promise<Map<string, AutodiscoveredHome>> {
    const now = this.now();
    const ask = [...new Set(mailboxes.map((m) => m.toLowerCase()))].filter((m) => {
      const kept = this.answers.get(m);
      return !kept || now - kept.at > KEPT_MS;
    });
    const batches: string[][] = [];
    for (let i = 0; i < ask.length; i += USERS_PER_REQUEST) batches.push(ask.slice(i, i + USERS_PER_REQUEST));
    // a few requests at a time: 50,000 mailboxes are 500 requests at a first start
    await Promise.all(batches.map((batch) => this.limiter.run(async () => {
      for (const [mailbox, home] of await this.ask(batch)) this.answers.set(mailbox, { home, at: now });
    })));
    const out = new Map<string, AutodiscoveredHome>();
    for (const m of mailboxes) {
      const home = this.answers.get(m.toLowerCase())?.home;
      if (home) out.set(m, home);
    }
    return out;
  }

  private async ask(batch: readonly string[]): Promise<Map<string, AutodiscoveredHome | undefined>> {
    const service = new ews.AutodiscoverService(new ews.Uri(this.url), ews.ExchangeVersion.Exchange2013);
    // the header the library would send is replaced by EwsHttp with the credentials' own
    service.Credentials = this.credentialsForLibrary();
    service.XHRApi = new EwsHttp(this.transport) as unknown as typeof service.XHRApi;
    this.requests++;
    let responses: ews.GetUserSettingsResponseCollection;
    try {
      responses = await service.GetUsersSettings([...batch], ews.UserSettingName.UserDisplayName);
    } catch (err) {
      throw toEwsError(err, { operation: 'Autodiscover GetUserSettings' });
    }
    const out = new Map<string, AutodiscoveredHome | undefined>();
    const answered = responses.GetEnumerator();
    batch.forEach((mailbox, i) => {
      const r = answered[i];
      if (!r) return;
      if (r.ErrorCode === ews.AutodiscoverErrorCode.NoError) out.set(mailbox, 'on-premises');
      // a remote mailbox: redirected to its address in the tenant (another address than asked)
      else if (r.ErrorCode === ews.AutodiscoverErrorCode.RedirectAddress && r.RedirectTarget && r.RedirectTarget.toLowerCase() !== mailbox) out.set(mailbox, 'online');
      else out.set(mailbox, undefined);
    });
    return out;
  }

  private credentialsForLibrary(): ews.ExchangeCredentials {
    return this.settings.auth === 'oauth' ? new ews.OAuthCredentials('set-per-request', true) : new ews.WebCredentials(this.settings.user, this.settings.password);
  }

  close(): void {
    this.transport.destroy();
  }
}
