/**
 * Recent end-to-end latencies for the status page: the last `windowMs` of observations
 * (at most `capacity`), so p50/p99 describe now rather than since start-up.
 */
export class LatencyWindow {
  private readonly times: number[] = [];
  private readonly values: number[] = [];

  constructor(private readonly windowMs = 10 * 60_000, private readonly capacity = 20_000, private readonly now: () => number = Date.now) {}

  observe(ms: number): void {
    this.times.push(this.now());
    this.values.push(ms);
    if (this.values.length > this.capacity) {
      this.times.shift();
      this.values.shift();
    }
  }

  /** p50, p99 and count of the window (ms; null when empty). */
  summary(): { count: number; p50Ms: number | null; p99Ms: number | null } {
    const cutoff = this.now() - this.windowMs;
    while (this.times.length && this.times[0] < cutoff) {
      this.times.shift();
      this.values.shift();
    }
    if (this.values.length === 0) return { count: 0, p50Ms: null, p99Ms: null };
    const sorted = [...this.values].sort((a, b) => a - b);
    const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
    return { count: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}
