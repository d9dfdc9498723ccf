/**
 * Shared by every request to one server: after a busy answer (EWS ErrorServerBusy with
 * BackOffMilliseconds, HTTP 429/503 with Retry-After), nobody sends anything until the wait
 * it asked for has passed — not only the caller that got the answer. Throttling is per
 * account, so hammering from another connection would only extend it.
 */
export class BackoffGate {
  private until = 0;
  busyAnswers = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Closes the gate for `ms` from now (never shortens an existing wait). */
  block(ms: number): void {
    this.busyAnswers++;
    this.until = Math.max(this.until, this.now() + ms);
  }

  get waitMs(): number {
    return Math.max(0, this.until - this.now());
  }

  /** Resolves when the gate is open (at once when it is). */
  async pass(): Promise<void> {
    for (;;) {
      const wait = this.waitMs;
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
