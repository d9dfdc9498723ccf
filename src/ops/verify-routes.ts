import type { FolderKind } from '../exchange/index.js';
import { Limiter } from '../shared/limiter.js';
import type { MailboxChangeSource } from '../subscriptions/index.js';
import { json, queryOf, type Route } from './http-reply.js';
import { verifyMailbox, type MailboxVerdict, type VerifyOptions } from './verify.js';

/** Mailboxes compared at once by /verify?all=true (each is a full SyncFolderItems of its folders). */
const VERIFY_PARALLEL = 4;

export interface VerifyReport {
  /** Changes still in the log, not applied yet: a difference may be one of them. */
  readonly inFlight: number;
  readonly mailboxes: number;
  readonly items: number;
  readonly records: number;
  readonly counts: Record<'missing' | 'stale' | 'ghost' | 'unlinked', number>;
  /** A hybrid organisation: each verdict's side is in it, and how many were compared on each. */
  readonly bySide?: Record<'ews' | 'graph', number>;
  readonly verdicts: ReadonlyArray<MailboxVerdict & { readonly side?: 'ews' | 'graph' }>;
}

/**
 * GET /verify?mailbox=M (or ?all=true: every mailbox this instance syncs): each mailbox
 * compared with the CRM item by item (verify.ts). Read-only; GET is safe to repeat.
 */
export function verifyRoutes(options: Omit<VerifyOptions, 'folders'> & { folders: readonly FolderKind[]; source: MailboxChangeSource; inFlight: () => Promise<number>; sideOf?: (mailbox: string) => 'ews' | 'graph' }): Record<string, Route> {
  return {
    '/verify': async (req, res) => {
      const q = queryOf(req);
      const one = (q.get('mailbox') ?? '').trim().toLowerCase();
      const all = q.get('all') === 'true';
      if (!one === !all) return json(res, 400, { error: 'give ?mailbox=<mailbox> or ?all=true' });
      if (one && !options.source.mailboxes.get(one)) return json(res, 404, { error: `${one} is not a mailbox this instance syncs` });
      const mailboxes = one ? [one] : options.source.mailboxes.all().map((m) => m.mailbox).sort();
      const limiter = new Limiter(VERIFY_PARALLEL);
      const verdicts = await Promise.all(mailboxes.map((m) => limiter.run(() => verifyMailbox(options, m).catch((err: unknown): MailboxVerdict => ({
        mailbox: m, items: 0, records: 0, disagreements: [], error: (err as Error).message,
      })))));
      const counts = { missing: 0, stale: 0, ghost: 0, unlinked: 0 };
      for (const v of verdicts) for (const d of v.disagreements) counts[d.kind]++;
      const { sideOf } = options;
      const sided: VerifyReport['verdicts'] = sideOf ? verdicts.map((v) => ({ ...v, side: sideOf(v.mailbox) })) : verdicts;
      const bySide = sideOf ? { ews: sided.filter((v) => v.side === 'ews').length, graph: sided.filter((v) => v.side === 'graph').length } : undefined;
      const report: VerifyReport = {
        inFlight: await options.inFlight(), mailboxes: verdicts.length, items: verdicts.reduce((n, v) => n + v.items, 0), records: verdicts.reduce((n, v) => n + v.records, 0), counts,
        ...(bySide ? { bySide } : {}), verdicts: sided,
      };
      return json(res, 200, report);
    },
  };
}
