import { Counter, Histogram, type Registry } from 'prom-client';

/** EWS traffic as Prometheus sees it. */
export class EwsMetrics {
  readonly requests: Counter<'operation'>;
  readonly errors: Counter<'operation' | 'code'>;
  readonly duration: Histogram<'operation'>;

  constructor(registry: Registry) {
    this.requests = new Counter({ name: 'ecs_ews_requests_total', help: 'EWS requests sent, by operation', labelNames: ['operation'], registers: [registry] });
    this.errors = new Counter({ name: 'ecs_ews_errors_total', help: 'EWS errors, by operation and response code', labelNames: ['operation', 'code'], registers: [registry] });
    this.duration = new Histogram({
      name: 'ecs_ews_request_duration_seconds', help: 'EWS request duration (streaming connections excluded)', labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
    });
  }
}
