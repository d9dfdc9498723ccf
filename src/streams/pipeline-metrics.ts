import { Counter, Histogram, type Registry } from 'prom-client';

/** What the pipelines count; one instance per registry. */
export class PipelineMetrics {
  readonly published: Counter<'topic'>;
  readonly fetchLatency: Histogram;
  readonly endToEnd: Histogram<'direction'>;
  readonly unreadable: Counter<'source'>;
  readonly conflicts: Counter<'policy' | 'winner'>;
  readonly echoesDropped: Counter;

  constructor(registry: Registry) {
    this.published = new Counter({ name: 'ecs_messages_published_total', help: 'Change envelopes written to the log, by topic', labelNames: ['topic'], registers: [registry] });
    this.fetchLatency = new Histogram({
      name: 'ecs_notification_to_fetch_seconds', help: 'From learning of an Exchange change to having the item (SyncFolderItems + GetItem)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry],
    });
    this.endToEnd = new Histogram({
      name: 'ecs_end_to_end_latency_seconds', help: 'From the change at its source to applied on the other side', labelNames: ['direction'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300], registers: [registry],
    });
    this.unreadable = new Counter({ name: 'ecs_unreadable_changes_total', help: 'Changes that could not be read at their source and were dead-lettered', labelNames: ['source'], registers: [registry] });
    this.echoesDropped = new Counter({ name: 'ecs_exchange_echoes_dropped_total', help: 'Exchange notifications of a version the sync held already (its own write coming back): no GetItem, nothing sent on', registers: [registry] });
    this.conflicts = new Counter({ name: 'ecs_conflicts_total', help: 'Items edited on both sides since the last sync, by policy and by the side that won', labelNames: ['policy', 'winner'], registers: [registry] });
  }
}
