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

/** An EWS call failed: a ResponseCode, an HTTP status, a SOAP fault or a transport error. */
export class EwsError extends SyncError {
  /** The EWS ResponseCode (e.g. ErrorServerBusy) or an HTTP/transport code. */
  readonly responseCode: string;
  /** The server's BackOffMilliseconds, when it gave one: the wait that wins over our own. */
  readonly backOffMs: number | undefined;
  constructor(responseCode: string, message: string, options: SyncErrorOptions & { backOffMs?: number } = {}) {
    super(`EWS_${responseCode}`, message, options);
    this.responseCode = responseCode;
    this.backOffMs = options.backOffMs;
  }
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
