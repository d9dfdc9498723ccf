import { type MonoTypeOperatorFunction, retry, timer, throwError, type SchedulerLike, asyncScheduler } from 'rxjs';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { isRetriable } from './errors.js';

export interface RetryWithBackoffOptions {
  policy: BackoffPolicy;
  /** Which errors to retry; default: those marked retriable. */
  shouldRetry?: (err: unknown) => boolean;
  /** The server's requested wait for this error, if any (EWS BackOffMilliseconds). */
  serverDelayOf?: (err: unknown) => number | undefined;
  /** Called before each wait, e.g. to log and count. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
  scheduler?: SchedulerLike;
}

/**
 * RxJS `retry` with the project's backoff policy. Non-retriable errors and errors past
 * `maxRetries` pass through to the subscriber unchanged; a success resets the count.
 */
export function retryWithBackoff<T>(options: RetryWithBackoffOptions): MonoTypeOperatorFunction<T> {
  const { policy, shouldRetry = isRetriable, serverDelayOf, onRetry, random = Math.random, scheduler = asyncScheduler } = options;
  return retry<T>({
    count: policy.maxRetries,
    resetOnSuccess: true,
    delay: (err: unknown, attempt: number) => {
      if (!shouldRetry(err)) return throwError(() => err);
      const delayMs = backoffDelay(policy, attempt, serverDelayOf?.(err), random);
      onRetry?.(err, attempt, delayMs);
      return timer(delayMs, scheduler);
    },
  });
}
