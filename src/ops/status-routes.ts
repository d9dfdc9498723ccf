import type { MailboxChangeSource } from '../subscriptions/index.js';
import { json, queryOf, type Route } from './http-reply.js';
import type { MailboxBacklog } from './mailbox-backlog.js';
import { STATUS_PAGE } from './status-page.js';
import { buildStatusReport, mailboxView, type StatusSources } from './status-report.js';


/**
 * The status page, /status, one mailbox's status, and the operator's controls (pause,
 * resume, resync — POST only, so a crawler or a prefetching browser never triggers them).
 */
export function statusRoutes(sources: StatusSources, source: MailboxChangeSource, backlog: MailboxBacklog): Record<string, Route> {
  const known = (address: string): boolean => source.mailboxes.get(address) !== undefined;
  const control = (action: 'pause' | 'resume' | 'resync'): Route => (req, res) => {
    if (req.method !== 'POST') return json(res, 405, { error: `${action} takes POST` });
    const q = queryOf(req);
    const address = (q.get('address') ?? '').toLowerCase();
    // resync: from scratch (every item read again, deletes a snapshot implies applied)
    if (action === 'resync' && q.get('all') === 'true') return json(res, 202, { action, mailboxes: source.snapshot() });
    if (!address) return json(res, 400, { error: 'give ?address=<mailbox>' + (action === 'resync' ? ' or ?all=true' : '') });
    if (!known(address)) return json(res, 404, { error: `${address} is not a mailbox this instance syncs` });
    if (action === 'resync') source.snapshot(address);
    else source[action](address);
    return json(res, 202, { action, mailbox: address, state: source.mailboxes.get(address)?.state });
  };
  return {
    '/': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(STATUS_PAGE);
    },
    '/status': async (_req, res) => json(res, 200, await buildStatusReport(sources)),
    '/status/mailbox': (req, res) => {
      const address = (queryOf(req).get('address') ?? '').trim().toLowerCase();
      const status = source.mailboxes.get(address);
      if (!status) return json(res, 404, { error: `${address || '(empty)'} is not a mailbox this instance syncs` });
      return json(res, 200, mailboxView(status, backlog, sources));
    },
    '/control/pause': control('pause'),
    '/control/resume': control('resume'),
    '/control/resync': control('resync'),
  };
}
