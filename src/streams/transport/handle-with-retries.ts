import { backoffPolicy } from '../../shared/backoff.js';
import { isAborted, RetryAborted, retrying } from '../../shared/retrier.js';
import type { ConsumerOptions, IncomingMessage } from './transport.js';

const RETRY = backoffPolicy({ initialMs: 200, maxMs: 10_000 });
/** How often a wait between attempts looks whether the consumer stopped (a rebalance, a shutdown). */
const STOP_CHECK_MS = 200;

/** While a handler runs, the group is told we are alive this often (a session times out at 10 s). */
const KEEP_ALIVE_MS = 3_000;

/**
 * Runs the consumer's handler for one message until it succeeds — never skipping it (the
 * handler dead-letters what it must) — waiting longer after each failure. Returns false
 * when the consumer stopped while waiting (the message stays uncommitted).
 *
 * `wait` (Kafka: the batch's heartbeat) is called between attempts and every few seconds
 * while one runs: a handler waiting on a slow Exchange (a request may take up to ews@timeout)
 * must not be taken for a dead member. When it fails — this member was removed from the group,
 * or the broker is gone — the message is given up uncommitted, for the partition's next owner:
 * retrying it here would only hold the partition from the group (seen: 13 attempts, each
 * failing on the heartbeat, never on the handler).
 */
export async function handleWithRetries(
  options: ConsumerOptions,
  message: IncomingMessage,
  between: { wait?: () => Promise<void>; stopped: () => boolean; keepAliveMs?: number },
): Promise<boolean> {
  const stop = new AbortController();
  let membershipLost = false;
  const lose = (err: unknown): void => {
    membershipLost = true;
    stop.abort(err);
  };
  const watch = setInterval(() => between.stopped() && stop.abort(new Error('the consumer stopped')), STOP_CHECK_MS);
  const keepAlive = between.wait ? setInterval(() => void between.wait!().catch(lose), between.keepAliveMs ?? KEEP_ALIVE_MS) : undefined;
  try {
    await retrying(async (attempt) => {
      if (attempt > 1) {
        await between.wait?.().catch((err: unknown) => {
          lose(err);
          throw new RetryAborted(err);
        });
        if (between.stopped()) throw new RetryAborted();
      }
      await options.handle(message);
    }, { policy: RETRY, signal: stop.signal, shouldRetry: () => !membershipLost, onRetry: (err, attempt, delayMs) => options.onRetry?.(message, err, attempt, delayMs) });
    return true;
  } catch (err) {
    if (isAborted(err) || membershipLost) return false;
    throw err;
  } finally {
    clearInterval(watch);
    clearInterval(keepAlive);
  }
}
