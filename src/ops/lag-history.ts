import type { LagMonitor } from '../streams/lag-monitor.js';

export interface LagSample {
  readonly at: number;
  /** "group topic" → summed lag */
  readonly lag: Record<string, number>;
}

/** Consumer lag per group and topic, sampled every `intervalMs` and kept for an hour: the status page's chart. */
export class LagHistory {
  readonly samples: LagSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly monitor: LagMonitor, private readonly intervalMs = 15_000, private readonly keepMs = 3_600_000) {}

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(): Promise<LagSample> {
    const lag: Record<string, number> = {};
    for (const [group, partitions] of await this.monitor.read()) {
      for (const p of partitions) lag[`${group} ${p.topic}`] = (lag[`${group} ${p.topic}`] ?? 0) + p.lag;
    }
    const sample = { at: Date.now(), lag };
    this.samples.push(sample);
    const cutoff = sample.at - this.keepMs;
    while (this.samples.length && this.samples[0].at < cutoff) this.samples.shift();
    return sample;
  }
}
