/**
 * How late this process's event loop has run lately: the sandbox shares a process with the
 * clients under test, so a request sent before a busy answer reached its client may be read
 * by the sandbox only after a stall of the loop — in flight all the same, not a violation.
 */
const TICK_MS = 20;
const WINDOW_MS = 2_000;

export class LoopLag {
  private readonly timer: NodeJS.Timeout;
  private expected = Date.now() + TICK_MS;
  /** The worst lateness of the current and the previous window. */
  private current = 0;
  private previous = 0;
  private windowStart = Date.now();

  constructor() {
    this.timer = setInterval(() => {
      const now = Date.now();
      const late = Math.max(0, now - this.expected);
      this.expected = now + TICK_MS;
      if (now - this.windowStart > WINDOW_MS) {
        this.previous = this.current;
        this.current = 0;
        this.windowStart = now;
      }
      this.current = Math.max(this.current, late);
    }, TICK_MS);
    this.timer.unref();
  }

  /** The worst stall of the last two to four seconds, in ms (the one under way counts too). */
  recentMaxMs(): number {
    return Math.max(this.current, this.previous, Math.max(0, Date.now() - this.expected));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
