import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric name of PRODUCT.md, in one place. Libraries and services take their
 * metric objects from {@link portcullisMetrics} so that names and labels never drift.
 */
export const METRIC_NAMES = {
  httpRequestDuration: 'http_request_duration_seconds',
  cacheRequests: 'portcullis_cache_requests_total',
  cachePromotions: 'portcullis_cache_promotions_total',
  cacheDemotions: 'portcullis_cache_demotions_total',
  cacheEntries: 'portcullis_cache_entries',
  batchSize: 'portcullis_batch_size',
  batchRoundTrips: 'portcullis_batch_round_trips_total',
  circuitState: 'portcullis_circuit_state',
  circuitEvents: 'portcullis_circuit_events_total',
  busPublished: 'portcullis_bus_published_total',
  busProcessed: 'portcullis_bus_processed_total',
  busPending: 'portcullis_bus_pending',
  busStreamLength: 'portcullis_bus_stream_length',
  busDeadLettered: 'portcullis_bus_dead_lettered_total',
  busDelivery: 'portcullis_bus_delivery_seconds',
  policyEvaluations: 'portcullis_policy_evaluations_total',
  policyEvaluationSeconds: 'portcullis_policy_evaluation_seconds',
  policyVersionInfo: 'portcullis_policy_version_info',
} as const;

/** The registry a process exposes on `/metrics` unless a caller passes its own. */
export const defaultRegistry = new Registry();

const FAST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

function build(registry: Registry) {
  const r = [registry];
  return {
    httpRequestDuration: new Histogram({
      name: METRIC_NAMES.httpRequestDuration,
      help: 'HTTP request duration',
      labelNames: ['service', 'route', 'method', 'status_code'],
      buckets: FAST_BUCKETS,
      registers: r,
    }),
    cacheRequests: new Counter({
      name: METRIC_NAMES.cacheRequests,
      help: 'Cache lookups by cache, level and result',
      labelNames: ['cache', 'level', 'result'],
      registers: r,
    }),
    cachePromotions: new Counter({
      name: METRIC_NAMES.cachePromotions,
      help: 'Entries promoted from L2 to L1',
      labelNames: ['cache'],
      registers: r,
    }),
    cacheDemotions: new Counter({
      name: METRIC_NAMES.cacheDemotions,
      help: 'Cold entries demoted out of L1',
      labelNames: ['cache'],
      registers: r,
    }),
    cacheEntries: new Gauge({
      name: METRIC_NAMES.cacheEntries,
      help: 'Entries held per cache level',
      labelNames: ['cache', 'level'],
      registers: r,
    }),
    batchSize: new Histogram({
      name: METRIC_NAMES.batchSize,
      help: 'Items per batched call',
      labelNames: ['target'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: r,
    }),
    batchRoundTrips: new Counter({
      name: METRIC_NAMES.batchRoundTrips,
      help: 'Batched round trips sent',
      labelNames: ['target'],
      registers: r,
    }),
    circuitState: new Gauge({
      name: METRIC_NAMES.circuitState,
      help: 'Circuit state: 0 closed, 1 half-open, 2 open',
      labelNames: ['target'],
      // Across cluster workers: the worst (summing 2 + 2 would say 4).
      aggregator: 'max',
      registers: r,
    }),
    circuitEvents: new Counter({
      name: METRIC_NAMES.circuitEvents,
      help: 'Circuit breaker events',
      labelNames: ['target', 'event'],
      registers: r,
    }),
    busPublished: new Counter({
      name: METRIC_NAMES.busPublished,
      help: 'Messages published',
      labelNames: ['topic', 'priority'],
      registers: r,
    }),
    busProcessed: new Counter({
      name: METRIC_NAMES.busProcessed,
      help: 'Messages processed by outcome',
      labelNames: ['topic', 'group', 'outcome'],
      registers: r,
    }),
    busPending: new Gauge({
      name: METRIC_NAMES.busPending,
      help: 'Pending (delivered, unacknowledged) entries',
      labelNames: ['stream', 'group'],
      // Read from Redis: every cluster worker sees the same count.
      aggregator: 'max',
      registers: r,
    }),
    busStreamLength: new Gauge({
      name: METRIC_NAMES.busStreamLength,
      help: 'Stream length',
      labelNames: ['stream'],
      aggregator: 'max',
      registers: r,
    }),
    busDeadLettered: new Counter({
      name: METRIC_NAMES.busDeadLettered,
      help: 'Messages moved to the dead-letter stream',
      labelNames: ['topic'],
      registers: r,
    }),
    busDelivery: new Histogram({
      name: METRIC_NAMES.busDelivery,
      help: 'Publish-to-handle latency',
      labelNames: ['topic'],
      buckets: FAST_BUCKETS,
      registers: r,
    }),
    policyEvaluations: new Counter({
      name: METRIC_NAMES.policyEvaluations,
      help: 'Policy evaluations by decision',
      labelNames: ['decision'],
      registers: r,
    }),
    policyEvaluationSeconds: new Histogram({
      name: METRIC_NAMES.policyEvaluationSeconds,
      help: 'Time spent in Cedar per evaluation',
      buckets: FAST_BUCKETS,
      registers: r,
    }),
    policyVersionInfo: new Gauge({
      name: METRIC_NAMES.policyVersionInfo,
      help: 'The live policy version (value 1)',
      labelNames: ['version'],
      aggregator: 'max',
      registers: r,
    }),
  };
}

/** The metric objects of PRODUCT.md, registered once per registry. */
export type PortcullisMetrics = ReturnType<typeof build>;

const byRegistry = new WeakMap<Registry, PortcullisMetrics>();

/**
 * Returns the PRODUCT.md metrics registered in `registry` (the default registry unless
 * given), creating them on first use. Calling it twice, or from two cache instances in
 * one process, returns the same objects instead of failing on a duplicate name.
 */
export function portcullisMetrics(registry: Registry = defaultRegistry): PortcullisMetrics {
  let metrics = byRegistry.get(registry);
  if (metrics === undefined) {
    metrics = build(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

/**
 * Forgets what requests recorded (request durations, policy evaluations). Only for a
 * warm-up that ran before anything was served: afterwards it would lose real samples.
 */
export function resetRequestMetrics(metrics: PortcullisMetrics): void {
  metrics.httpRequestDuration.reset();
  metrics.policyEvaluations.reset();
  metrics.policyEvaluationSeconds.reset();
}

/** Adds Node's process metrics (event loop lag, heap, GC) to a service's registry. */
export function collectProcessMetrics(registry: Registry = defaultRegistry): void {
  collectDefaultMetrics({ register: registry });
}

export { Registry };

/**
 * In a node:cluster worker: lets the primary's {@link clusterMetricsAggregator} read this
 * process's metrics in `registry` (prom-client answers the primary over IPC).
 */
export function shareMetricsWithPrimary(registry: Registry = defaultRegistry): void {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client adds a worker's IPC listener when an AggregatorRegistry is made, not on import.
  new AggregatorRegistry();
}

/**
 * In a node:cluster primary: `clusterMetrics()` asks every worker for its metrics and
 * merges them, counters and histograms summed, gauges by their `aggregator` (sum unless a
 * metric says otherwise: a value every worker reads alike from Redis says `max`).
 */
export function clusterMetricsAggregator(): AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'> {
  return new AggregatorRegistry();
}
