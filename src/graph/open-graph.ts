import { readFileSync } from 'node:fs';
import type { GraphSettings } from '../config/index.js';
import { OAuthCredentials } from '../ews/index.js';
import { GraphHttp } from './graph-http.js';
import { GraphMailboxStore } from './graph-store.js';

export interface OpenedGraph {
  readonly http: GraphHttp;
  readonly store: GraphMailboxStore;
  /** The CA the endpoints are verified against beyond the system's (PEM), if any. */
  readonly ca: string | undefined;
}

/**
 * Microsoft Graph as the settings say: app-only tokens by msal's client-credentials flow
 * (scope https://graph.microsoft.com/.default, a certificate or a secret), the HTTP client
 * and the mailbox store over the sync window. Files are read here, once.
 */
export function openGraph(settings: GraphSettings & { readonly ca?: string }, window: { readonly pastDays: number; readonly futureDays: number }): OpenedGraph {
  if (settings.url === null) throw new Error('Microsoft Graph needs <graph> or the built-in sandbox');
  const ca = settings.ca ?? (settings.caFile ? readFileSync(settings.caFile, 'utf8') : undefined);
  const tokens = new OAuthCredentials({
    settings: {
      authority: settings.authority, clientId: settings.clientId, clientSecret: settings.clientSecret, scope: 'https://graph.microsoft.com/.default',
      ...(settings.certificateFile ? { certificatePem: readFileSync(settings.certificateFile, 'utf8') } : {}),
    },
    ca,
  });
  const http = new GraphHttp({ url: settings.url.replace(/\/+$/, ''), tokens, ca, timeoutMs: settings.timeoutMs });
  return { http, store: new GraphMailboxStore({ http, windowPastDays: window.pastDays, windowFutureDays: window.futureDays }), ca };
}
