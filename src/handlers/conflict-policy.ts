import type { ConflictPolicy } from '../config/index.js';
import type { Logger } from '../shared/logger.js';

/** One "both sides edited since the last sync", as the handlers report it. */
export interface ConflictReport {
  readonly policy: ConflictPolicy;
  readonly winner: 'exchange' | 'crm';
  /** Which handler saw it (each conflict is counted where it is decided). */
  readonly detectedBy: 'to-crm' | 'to-exchange';
  readonly mailbox: string;
  readonly itemId: string;
  readonly crmId: string;
  readonly exchangeModified?: string;
  readonly crmModified?: string;
}

const seconds = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : Number.NaN);

/**
 * Does the Exchange version win? Both handlers decide with this one function on the same two
 * times, so whichever meets the conflict first decides it the same way. Exchange keeps
 * LastModifiedTime to the second, so the CRM's time is cut to the second too, and a tie (or
 * an unknown time) goes to Exchange, where the user's calendar is.
 */
export function exchangeWins(policy: ConflictPolicy, exchangeModified: string | undefined, crmModified: string | undefined): boolean {
  if (policy === 'exchange-wins') return true;
  if (policy === 'crm-wins') return false;
  const crm = seconds(crmModified);
  const exchange = seconds(exchangeModified);
  if (Number.isNaN(crm) || Number.isNaN(exchange)) return true;
  return exchange >= crm;
}

/** Every conflict is logged (with both times) and counted. */
export function reportConflict(logger: Logger, r: ConflictReport, onConflict?: (report: ConflictReport) => void): void {
  logger.warn({ ...r, event: 'conflict' }, `both sides changed ${r.mailbox} item of CRM row ${r.crmId}; ${r.winner} wins (${r.policy})`);
  onConflict?.(r);
}
