import { repeat, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import type { BackoffPolicy } from '../../shared/backoff.js';
import { retryWithBackoff } from '../../shared/retry-with-backoff.js';

/**
 * Keeps a connection open: when it completes (the server closed it as planned) it is
 * opened again at once; when it fails it is opened again after a growing, jittered delay
 * (the server's BackOffMilliseconds wins), and a message resets the delay.
 */
export function reconnecting<T>(options: {
  policy: BackoffPolicy;
  serverDelayOf?: (err: unknown) => number | undefined;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
  scheduler?: SchedulerLike;
}): MonoTypeOperatorFunction<T> {
  return (source) => source.pipe(repeat(), retryWithBackoff({ ...options, shouldRetry: () => true }));
}
