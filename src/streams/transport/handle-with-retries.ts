import { backoffDelay, backoffPolicy } from '../../shared/backoff.js';
import type { ConsumerOptions, IncomingMessage } from './transport.js';

const RETRY = backoffPolicy({ initialMs: 200, maxMs: 10_000 });

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
  for (let attempt = 1; ; attempt++) {
    try {
      await options.handle(message);
      return true;
    } catch (err) {
      const delayMs = backoffDelay(RETRY, attempt);
      options.onRetry?.(message, err, attempt, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
      await between.wait?.();
      if (between.stopped()) return false;
    }
  }
}
