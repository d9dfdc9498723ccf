/**
 * One error taxonomy for the whole service (after kafkajs / platformatic-kafka): every error
 * carries a stable `code`, whether repeating the same work may succeed (`retriable`), the
 * underlying `cause`, and context for the log. Pipelines decide retry vs dead-letter from
 * `retriable` alone, never from message text.
 */
export interface SyncErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  /** Structured context for logs and dead-letter headers; never put secrets here. */
  context?: Record<string, unknown>;
}

export class SyncError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: string, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, retriable: this.retriable, context: this.context };
  }
}

/** The operator's configuration is wrong; never retriable. */
export class ConfigError extends SyncError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options: SyncErrorOptions = {}) {
    super('CONFIG_INVALID', problems.join('\n'), { ...options, retriable: false });
    this.problems = problems;
  }
}

/**
 * What a failure on the Exchange side means for the sync, whatever the protocol said it with
 * (an EWS ResponseCode, a Graph error code, an HTTP status, a dropped socket). Code outside
 * the protocol folders decides on the category alone, never on a protocol's codes.
 */
export type ExchangeErrorCategory =
  /** Try the same call again (after retryAfterMs when the server said so). */
  | 'transient'
  /** The saved position (SyncState, delta token) is no longer accepted: sync afresh from none. */
  | 'position-invalid'
  /** The server no longer knows the subscription: subscribe again and close the gap. */
  | 'subscription-lost'
  /** The mailbox cannot be reached with these rights (denied, gone, moving). */
  | 'mailbox-unavailable'
  | 'not-found'
  | 'conflict'
  | 'permanent';

export interface ExchangeErrorOptions extends SyncErrorOptions {
  readonly category: ExchangeErrorCategory;
  /** The protocol's own word for it (ErrorServerBusy, syncStateNotFound, HTTP_503, ECONNRESET): for logs and counts. */
  readonly protocolCode: string;
  /** The wait the server asked for (EWS BackOffMilliseconds, HTTP Retry-After): it wins over our own. */
  readonly retryAfterMs?: number;
  /** Set when the server refused because a budget of the connecting account is full (streaming connections). */
  readonly budgetFull?: 'connections';
}

/** A call to Exchange failed; what it means is the category. */
export class ExchangeError extends SyncError {
  readonly category: ExchangeErrorCategory;
  readonly protocolCode: string;
  readonly retryAfterMs: number | undefined;
  readonly budgetFull: 'connections' | undefined;
  constructor(code: string, message: string, options: ExchangeErrorOptions) {
    super(code, message, options);
    this.category = options.category;
    this.protocolCode = options.protocolCode;
    this.retryAfterMs = options.retryAfterMs;
    this.budgetFull = options.budgetFull;
  }
}

/** The category of anything an Exchange call threw: what is not an ExchangeError is taken as transient (a bug in between, a socket). */
export function exchangeErrorCategory(err: unknown): ExchangeErrorCategory {
  return err instanceof ExchangeError ? err.category : 'transient';
}

/** Anything thrown on the Exchange side as an ExchangeError (a foreign error is transient: retried). */
export function toExchangeError(err: unknown): ExchangeError {
  if (err instanceof ExchangeError) return err;
  return new ExchangeError('EXCHANGE_UNEXPECTED', err instanceof Error ? err.message : String(err), { cause: err, retriable: true, category: 'transient', protocolCode: 'UNEXPECTED' });
}

/** The log (Kafka or embedded) could not take or give a message. */
export class TransportError extends SyncError {
  constructor(code: string, message: string, options: SyncErrorOptions = {}) {
    super(`TRANSPORT_${code}`, message, { retriable: true, ...options });
  }
}

/** The CRM refused or failed a change. */
export class CrmError extends SyncError {
  constructor(code: string, message: string, options: SyncErrorOptions = {}) {
    super(`CRM_${code}`, message, options);
  }
}

/** A message that can never be applied as it is (bad envelope, unknown type): dead-letter it. */
export class PoisonMessageError extends SyncError {
  constructor(message: string, options: SyncErrorOptions = {}) {
    super('POISON_MESSAGE', message, { ...options, retriable: false });
  }
}

/** Errors that did not come from us are retriable only when they look like a network hiccup. */
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

export function isRetriable(err: unknown): boolean {
  if (err instanceof SyncError) return err.retriable;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_NODE_CODES.has(code);
}

/** Wraps anything thrown into a SyncError, keeping the original as `cause`. */
export function toSyncError(err: unknown, code = 'UNEXPECTED'): SyncError {
  if (err instanceof SyncError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SyncError(code, message, { cause: err, retriable: isRetriable(err) });
}

/**
 * A write the sync holds back because the store would mail people for it: over Microsoft Graph,
 * updating or deleting the organiser's copy of a meeting sends its attendees an update or a
 * cancellation, and Graph has no way to say "send none" (EWS has). The meeting stays as it is
 * in Exchange, whose organiser changes it; the handler skips the change and says so.
 */
export class MeetingWriteRefused extends SyncError {
  constructor(readonly mailbox: string, readonly itemId: string, readonly attendees: number) {
    super('MEETING_WRITE_REFUSED', `${mailbox}'s meeting ${itemId} has ${attendees} attendee(s): over Microsoft Graph writing it would mail them, so the sync leaves it to its organiser`, { retriable: false });
  }
}
