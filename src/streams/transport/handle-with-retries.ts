import { backoffPolicy } from '../../shared/backoff.js';
import { isAborted, RetryAborted, retrying } from '../../shared/retrier.js';
import type { ConsumerOptions, IncomingMessage } from './transport.js';

const RETRY = backoffPolicy({ initialMs: 200, maxMs: 10_000 });
/** How often a wait between attempts looks whether the consumer stopped (a rebalance, a shutdown). */
const STOP_CHECK_MS = 200;

/**
 * Runs the consumer's handler for one message until it succeeds — never skipping it (the
 * handler dead-letters what it must) — waiting longer after each failure. Returns false
 * when the consumer stopped while waiting (the message stays uncommitted).
 */
export async function handleWithRetries(
  options: ConsumerOptions,
  message: IncomingMessage,
  between: { wait?: () => Promise<void>; stopped: () => boolean },
): Promise<boolean> {
  const stop = new AbortController();
  const watch = setInterval(() => between.stopped() && stop.abort(new Error('the consumer stopped')), STOP_CHECK_MS);
  try {
    await retrying(async (attempt) => {
      if (attempt > 1) {
        await between.wait?.();
        if (between.stopped()) throw new RetryAborted();
      }
      await options.handle(message);
    }, { policy: RETRY, signal: stop.signal, shouldRetry: () => true, onRetry: (err, attempt, delayMs) => options.onRetry?.(message, err, attempt, delayMs) });
    return true;
  } catch (err) {
    if (isAborted(err)) return false;
    throw err;
  } finally {
    clearInterval(watch);
  }
}
