import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from '../shared/with-timeout.js';
import type { Transport } from '../streams/index.js';

/**
 * Messages parked in the dead-letter topics and not replayed yet (the replay group's lag),
 * as a metric (alert: not empty) and for /status.
 */
export class DlqSizes {
  private cache: { at: number; sizes: Record<string, number> } | undefined;

  constructor(private readonly transport: Transport, private readonly topics: readonly string[], private readonly replayGroup: string, registry: Registry) {
    const gauge: Gauge<'topic'> = new Gauge({
      name: 'ecs_dlq_messages', help: 'Messages parked in each dead-letter topic and not replayed yet', labelNames: ['topic'], registers: [registry],
      collect: async () => {
        for (const [topic, n] of Object.entries(await this.read())) gauge.set({ topic }, n);
      },
    });
  }

  async read(): Promise<Record<string, number>> {
    if (this.cache && Date.now() - this.cache.at < 2_000) return this.cache.sizes;
    const sizes: Record<string, number> = Object.fromEntries(this.topics.map((t) => [t, 0]));
    try {
      for (const p of await withTimeout(this.transport.lag(this.replayGroup, this.topics), 2_000, 'the log did not answer')) sizes[p.topic] = (sizes[p.topic] ?? 0) + p.lag;
    } catch {
      return this.cache?.sizes ?? sizes; // the log is away; /readyz says so
    }
    this.cache = { at: Date.now(), sizes };
    return sizes;
  }
}
