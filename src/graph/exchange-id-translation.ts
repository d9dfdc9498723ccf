import type { GraphHttp } from './graph-http.js';

/** translateExchangeIds takes at most this many ids of one mailbox (user-translateexchangeids.md). */
const MAX_IDS = 1_000;

interface Translation {
  readonly sourceId: string;
  readonly targetId?: string;
  readonly errorDetails?: { readonly code?: string };
}

/**
 * EWS ItemIds of one mailbox as Graph ids (restId), through Graph's translateExchangeIds
 * (application permission User.Read.All), 1,000 a request. An id Graph cannot translate (not
 * the mailbox's, malformed) is left out of the answer.
 */
export async function translateEwsIds(http: GraphHttp, mailbox: string, ewsIds: readonly string[]): Promise<Map<string, string>> {
  const translated = new Map<string, string>();
  for (let i = 0; i < ewsIds.length; i += MAX_IDS) {
    const inputIds = ewsIds.slice(i, i + MAX_IDS);
    const r = await http.call('POST', `/users/${encodeURIComponent(mailbox)}/translateExchangeIds`, { body: { inputIds, sourceIdType: 'ewsId', targetIdType: 'restId' }, context: { mailbox } });
    for (const t of (r.body as { value?: Translation[] }).value ?? []) if (t.targetId) translated.set(t.sourceId, t.targetId);
  }
  return translated;
}
