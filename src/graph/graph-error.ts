import { ExchangeError, type ExchangeErrorCategory } from '../shared/errors.js';

/**
 * A Microsoft Graph call failed: the HTTP status and Graph's error code, and what they mean
 * for the sync (the category). Only this folder reads Graph's codes.
 */
export class GraphApiError extends ExchangeError {
  constructor(readonly status: number, graphCode: string, message: string, options: { retryAfterMs?: number; cause?: unknown; context?: Record<string, unknown> } = {}) {
    const category = categoryOf(status, graphCode);
    super(`GRAPH_${graphCode}`, message, { category, protocolCode: graphCode, retriable: category === 'transient', retryAfterMs: options.retryAfterMs, cause: options.cause, context: options.context });
  }
}

function categoryOf(status: number, code: string): ExchangeErrorCategory {
  if (status === 429 || status === 503 || status === 504 || status === 502 || status === 500 || status === 0) return 'transient';
  if (status === 410 || /^(syncStateNotFound|resyncRequired|syncStateInvalid)$/i.test(code)) return 'position-invalid';
  if (status === 412 || status === 409) return 'conflict';
  if (code === 'ErrorInvalidUser' || code === 'MailboxNotEnabledForRESTAPI' || code === 'ErrorAccessDenied' || code === 'ErrorMailboxMoveInProgress') return 'mailbox-unavailable';
  if (status === 404) return 'not-found';
  return 'permanent';
}
