import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { withTimeout } from '../shared/with-timeout.js';
import type { PartitionLag, Transport } from './transport/transport.js';

/**
 * Consumer lag as a first-class signal, under the names kafka_exporter uses, so the same
 * dashboards and alerts work for Kafka and for the embedded log: per group, topic and
 * partition (log end offset − committed offset) and summed per topic.
 */
export class LagMonitor {
  private cache: { at: number; lags: Map<string, PartitionLag[]> } | undefined;

  constructor(private readonly transport: Transport, private readonly groups: ReadonlyArray<{ groupId: string; topics: readonly string[] }>, registry: Registry, private readonly logger: Logger) {
    const perPartition: Gauge<'consumergroup' | 'topic' | 'partition'> = new Gauge({
      name: 'kafka_consumergroup_lag', help: 'Messages not yet handled: log end offset minus committed offset', labelNames: ['consumergroup', 'topic', 'partition'], registers: [registry],
      collect: async () => {
        perPartition.reset();
        for (const [group, lags] of await this.read()) for (const l of lags) perPartition.set({ consumergroup: group, topic: l.topic, partition: String(l.partition) }, l.lag);
      },
    });
    const sum: Gauge<'consumergroup' | 'topic'> = new Gauge({
      name: 'kafka_consumergroup_lag_sum', help: 'Consumer lag summed over partitions', labelNames: ['consumergroup', 'topic'], registers: [registry],
      collect: async () => {
        sum.reset();
        for (const [group, lags] of await this.read()) {
          const byTopic = new Map<string, number>();
          for (const l of lags) byTopic.set(l.topic, (byTopic.get(l.topic) ?? 0) + l.lag);
          for (const [topic, lag] of byTopic) sum.set({ consumergroup: group, topic }, lag);
        }
      },
    });
  }

  /**
   * Lag of every watched group (cached for a second: both gauges read it per scrape). A
   * read is bounded: with the log away, a scrape or the status page answers with the last
   * known figures instead of hanging.
   */
  async read(): Promise<Map<string, PartitionLag[]>> {
    if (this.cache && Date.now() - this.cache.at < 1_000) return this.cache.lags;
    const lags = new Map<string, PartitionLag[]>();
    for (const g of this.groups) {
      try {
        lags.set(g.groupId, await withTimeout(this.transport.lag(g.groupId, g.topics), 2_000, 'the log did not answer within 2 s'));
      } catch (err) {
        this.logger.warn({ err, group: g.groupId }, 'reading consumer lag failed; keeping the last figures');
        const last = this.cache?.lags.get(g.groupId);
        if (last) lags.set(g.groupId, last);
      }
    }
    this.cache = { at: Date.now(), lags };
    return lags;
  }

  /** Summed lag of one group (for /status). */
  async total(groupId: string): Promise<number> {
    return ((await this.read()).get(groupId) ?? []).reduce((n, l) => n + l.lag, 0);
  }
}
