import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { isRetriable, SyncError } from './errors.js';

/**
 * The work was stopped (the service is shutting down) while it waited to try again. It is
 * neither a failure of the work nor a reason to park it: the caller leaves it unacknowledged,
 * so it is done again after the restart.
 */
export class RetryAborted extends SyncError {
  constructor(cause?: unknown) {
    super('ABORTED', 'stopped while waiting to retry', { retriable: true, cause });
  }
}

export const isAborted = (err: unknown): boolean => err instanceof RetryAborted;

/**
 * The waits on one signal, behind a single 'abort' listener: a throttling storm puts hundreds
 * of retries to sleep on the lifecycle's signal at once, and a listener each would make Node
 * warn of a leak (MaxListenersExceededWarning) that is none.
 */
const sleepers = new WeakMap<AbortSignal, Set<() => void>>();

function onAbortOf(signal: AbortSignal, wake: () => void): () => void {
  let waiting = sleepers.get(signal);
  if (!waiting) {
    const all = new Set<() => void>();
    sleepers.set(signal, (waiting = all));
    signal.addEventListener('abort', () => {
      sleepers.delete(signal);
      for (const w of all) w();
    }, { once: true });
  }
  waiting.add(wake);
  return () => void waiting.delete(wake);
}

/** Waits `ms`, or until `signal` aborts (then rejects with RetryAborted). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new RetryAborted(signal.reason));
  return new Promise((resolve, reject) => {
    const forget = signal ? onAbortOf(signal, () => {
      clearTimeout(timer);
      reject(new RetryAborted(signal.reason));
    }) : undefined;
    const timer = setTimeout(() => {
      forget?.();
      resolve();
    }, ms);
  });
}

export interface RetryOptions {
  readonly policy: BackoffPolicy;
  /** The lifecycle's: once aborted, no new attempt starts and a wait ends at once (RetryAborted). */
  readonly signal?: AbortSignal;
  /** Which failures are tried again (default: those marked retriable); `attempt` counts from 1. */
  readonly shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** The server's wait for this failure (default: EWS BackOffMilliseconds on the error): it wins over the policy. */
  readonly serverDelayOf?: (err: unknown) => number | undefined;
  /** Told before each wait (to log, to count). */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const backOffOf = (err: unknown): number | undefined => {
  const ms = (err as { backOffMs?: unknown } | null)?.backOffMs;
  return typeof ms === 'number' && ms > 0 ? ms : undefined;
};

/**
 * The one retry loop: runs `work` until it succeeds, a failure is not to be retried, the
 * policy's retries are used up, or the signal aborts. Between attempts it waits the policy's
 * backoff, or longer when the server asked for longer. An abort never turns into the work's
 * failure: it is RetryAborted, which callers leave unacknowledged (never dead-lettered).
 */
export async function retrying<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal, shouldRetry = isRetriable, serverDelayOf = backOffOf, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new RetryAborted(signal.reason);
    try {
      return await work(attempt);
    } catch (err) {
      if (err instanceof RetryAborted) throw err;
      if (attempt > policy.maxRetries || !shouldRetry(err, attempt)) {
        // a failure caused by the stop itself (a socket closed under it) is an abort too
        if (signal?.aborted) throw new RetryAborted(err);
        throw err;
      }
      const delayMs = backoffDelay(policy, attempt, serverDelayOf(err));
      onRetry?.(err, attempt, delayMs);
      await abortableSleep(delayMs, signal);
    }
  }
}
