/**
 * What an EWS ResponseCode means for us: retry the same call, re-create the subscription
 * and close the gap, park the mailbox, or give up on this one item.
 */
import type { ExchangeErrorCategory } from '../shared/errors.js';

const TRANSIENT = new Set([
  'ErrorServerBusy', 'ErrorInternalServerError', 'ErrorInternalServerTransientError', 'ErrorTimeoutExpired', 'ErrorMailboxStoreUnavailable',
  'ErrorConnectionFailed', 'ErrorExceededConnectionCount', 'ErrorMailboxMoveInProgress', 'ErrorADUnavailable', 'ErrorBatchProcessingStopped',
  'ErrorServerTemporaryUnavailable', 'ErrorTooManyObjectsOpened', 'ErrorProxyRequestProcessingFailed', 'HTTP_502', 'HTTP_503', 'HTTP_504',
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'TIMEOUT', 'SOCKET', 'HTTP_429', 'HTTP_500',
]);
const SUBSCRIPTION_LOST = new Set([
  'ErrorSubscriptionNotFound', 'ErrorInvalidSubscription', 'ErrorExpiredSubscription', 'ErrorReadEventsFailed', 'ErrorMissedNotificationEvents',
  'ErrorInvalidWatermark', 'ErrorInvalidPullSubscriptionId', 'ErrorSubscriptionAccessDenied',
]);
const MAILBOX_UNAVAILABLE = new Set([
  'ErrorImpersonateUserDenied', 'ErrorNonExistentMailbox', 'ErrorImpersonationDenied', 'ErrorAccessDenied', 'ErrorMailboxConfiguration',
  'ErrorInvalidExchangeImpersonationHeaderData', 'ErrorNoApplicableProxyCASServersAvailable', 'HTTP_401', 'HTTP_403',
]);
const NOT_FOUND = new Set(['ErrorItemNotFound', 'ErrorFolderNotFound', 'ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange']);
const CONFLICT = new Set(['ErrorIrresolvableConflict', 'ErrorStaleObject', 'ErrorChangeKeyRequiredForWriteOperations']);
const POSITION_INVALID = new Set(['ErrorInvalidSyncStateData']);

export function categoryOf(code: string): ExchangeErrorCategory {
  if (TRANSIENT.has(code)) return 'transient';
  if (SUBSCRIPTION_LOST.has(code)) return 'subscription-lost';
  if (MAILBOX_UNAVAILABLE.has(code)) return 'mailbox-unavailable';
  if (NOT_FOUND.has(code)) return 'not-found';
  if (CONFLICT.has(code)) return 'conflict';
  if (POSITION_INVALID.has(code)) return 'position-invalid';
  return 'permanent';
}

/** Retrying the same call may succeed (subscription loss is handled by resubscribing, not by retry). */
export function isRetriableCode(code: string): boolean {
  return categoryOf(code) === 'transient';
}

/**
 * The ResponseCode of a SOAP answer's text (a fault's detail or a response message).
 * Exchange writes it as <e:ResponseCode xmlns:e="…">, so attributes must be allowed.
 */
export function responseCodeIn(text: string): string | undefined {
  return /<(?:\w+:)?ResponseCode\b[^>]*>(\w+)</.exec(text)?.[1];
}
