import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A gauge read from somewhere else (the database) when /metrics is scraped. */
export type GaugeSource = () => Promise<number>;

/**
 * The gateway's Prometheus metrics, one registry per gateway instance (tests run several in one
 * process). Parts of the gateway record into it; sources for gauges are registered by the parts
 * that own the data (subscriptions: outbox backlog, oldest event age, subscriptions in error).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly nativeRecords: Counter<'format' | 'outcome'>;
  readonly deliveryAttempts: Counter<'outcome'>;
  readonly deliveryDuration: Histogram<'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    this.httpRequests = new Counter({
      name: 'gateway_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'gateway_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.nativeRecords = new Counter({
      name: 'gateway_native_records_total',
      help: 'Native records received, by format and outcome (created, updated, unchanged, refused)',
      labelNames: ['format', 'outcome'],
      registers: [this.registry],
    });
    this.deliveryAttempts = new Counter({
      name: 'gateway_delivery_attempts_total',
      help: 'Notification delivery attempts, by outcome (delivered, failed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.deliveryDuration = new Histogram({
      name: 'gateway_delivery_duration_seconds',
      help: 'Time of one notification delivery attempt',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  /** Registers a gauge whose value is read from `source` at each scrape. */
  gauge(name: string, help: string, source: GaugeSource): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await source());
      },
    });
  }
}
