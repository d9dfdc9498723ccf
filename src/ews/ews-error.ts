import ews from 'ews-javascript-api';
import { ExchangeError, type SyncErrorOptions } from '../shared/errors.js';
import { categoryOf, isRetriableCode } from './ews-response-codes.js';

/** An EWS call failed: a ResponseCode, an HTTP status, a SOAP fault or a transport error. */
export class EwsError extends ExchangeError {
  constructor(responseCode: string, message: string, options: SyncErrorOptions & { backOffMs?: number } = {}) {
    super(`EWS_${responseCode}`, message, {
      ...options, category: categoryOf(responseCode), protocolCode: responseCode, retryAfterMs: options.backOffMs,
      ...(responseCode === 'ErrorExceededConnectionCount' ? { budgetFull: 'connections' as const } : {}),
    });
  }

  /** The EWS ResponseCode (e.g. ErrorServerBusy) or an HTTP/transport code. */
  get responseCode(): string {
    return this.protocolCode;
  }

  /** The server's BackOffMilliseconds, when it gave one. */
  get backOffMs(): number | undefined {
    return this.retryAfterMs;
  }
}

export function ewsError(code: string, message: string, options: { backOffMs?: number; cause?: unknown; context?: Record<string, unknown> } = {}): EwsError {
  return new EwsError(code, message, { retriable: isRetriableCode(code), ...options });
}


interface LibraryFailure {
  ResponseCode?: number;
  ErrorCode?: number;
  HttpStatusCode?: number;
  status?: number;
  message?: string;
  Message?: string;
  code?: string;
  ErrorDetails?: { containsKey(k: string): boolean; get(k: string): string };
  Response?: { ErrorCode?: number; ErrorMessage?: string; ErrorDetails?: { containsKey(k: string): boolean; get(k: string): string } };
}

/**
 * ews-javascript-api rejects with whatever it has at hand — SoapFaultDetails, a
 * ServiceResponseException, a raw XHR response, an Error — so every shape is mapped here
 * to one EwsError with the EWS ResponseCode, retriable and BackOffMilliseconds.
 */
export function toEwsError(err: unknown, context: Record<string, unknown> = {}): EwsError {
  if (err instanceof EwsError) return err;
  const kind = (err as { constructor?: { name?: string } } | null)?.constructor?.name ?? '';
  if (/Service(Validation|Local|Xml|Version)Exception|ArgumentException|NotSupported/.test(kind)) {
    // The library refused locally (bad input or a response it cannot read): retrying will not help.
    return ewsError('ErrorClientSide', `${kind}: ${(err as Error).message}`, { cause: err, context });
  }
  const f = (err ?? {}) as LibraryFailure;
  const status = f.HttpStatusCode ?? f.status;
  const message0 = f.message ?? f.Message ?? (err instanceof Error ? err.message : '');
  let code: string | undefined;
  if (typeof status === 'number' && status !== 200 && status !== 500) {
    // Not a SOAP answer: the HTTP status or the network failure says more than the
    // library's default ErrorInternalServerError.
    code = status === 0 ? transportCode(message0, f.code) : `HTTP_${status}`;
  } else {
    const enumCode = f.ResponseCode ?? f.ErrorCode ?? f.Response?.ErrorCode;
    code = typeof enumCode === 'number' && enumCode !== 0 ? ews.ServiceError[enumCode] : undefined;
    if (!code && typeof f.code === 'string' && /^[A-Z_]+$/.test(f.code)) code = f.code;
  }
  code ??= 'ErrorInternalServerError';
  const details = f.ErrorDetails ?? f.Response?.ErrorDetails;
  const backOff = details?.containsKey?.('BackOffMilliseconds') ? Number(details.get('BackOffMilliseconds')) : undefined;
  const message = message0 || f.Response?.ErrorMessage || String(err);
  return ewsError(code, message || code, { backOffMs: Number.isFinite(backOff) ? backOff : undefined, cause: err, context });
}

function transportCode(message: string, code?: string): string {
  if (code && /^E[A-Z]+$|^TIMEOUT$|^SOCKET$/.test(code)) return code;
  const m = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH)\b/.exec(message);
  if (m) return m[1];
  return /no answer within/.test(message) ? 'TIMEOUT' : 'SOCKET';
}
