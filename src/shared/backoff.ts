/**
 * The one backoff policy: exponential growth, a cap, jitter, and an explicit server-given
 * delay (EWS BackOffMilliseconds) that wins over our own schedule — we never come back
 * sooner than the server asked.
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** The delay never grows past this (a server-given delay may). */
  readonly maxMs: number;
  /** Growth per attempt (2 doubles). */
  readonly multiplier: number;
  /** 'full': uniform in [0, d]; 'equal': uniform in [d/2, d]; 'none': exactly d. */
  readonly jitter: 'full' | 'equal' | 'none';
  /** Give up after this many retries (Infinity: never). */
  readonly maxRetries: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  initialMs: 200,
  maxMs: 30_000,
  multiplier: 2,
  jitter: 'equal',
  maxRetries: Infinity,
});

/** Share of a server-given delay added on top as jitter, so waiting clients don't return in lockstep. */
const SERVER_DELAY_SPREAD = 0.1;
const SERVER_DELAY_SPREAD_CAP_MS = 1_000;

/**
 * Delay before retry number `attempt` (1 for the first retry).
 * `serverDelayMs`, when given, is a floor: the result is at least that, plus a little spread.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  serverDelayMs?: number,
  random: () => number = Math.random,
): number {
  if (serverDelayMs !== undefined && serverDelayMs > 0) {
    const spread = Math.min(serverDelayMs * SERVER_DELAY_SPREAD, SERVER_DELAY_SPREAD_CAP_MS);
    return Math.ceil(serverDelayMs + random() * spread);
  }
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.multiplier, exponent));
  switch (policy.jitter) {
    case 'full':
      return Math.round(random() * base);
    case 'equal':
      return Math.round(base / 2 + random() * (base / 2));
    case 'none':
      return Math.round(base);
  }
}

export function backoffPolicy(overrides: Partial<BackoffPolicy> = {}): BackoffPolicy {
  return Object.freeze({ ...DEFAULT_BACKOFF, ...overrides });
}
