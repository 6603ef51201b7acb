export {
  METRIC_NAMES,
  defaultRegistry,
  portcullisMetrics,
  collectProcessMetrics,
  resetRequestMetrics,
  shareMetricsWithPrimary,
  clusterMetricsAggregator,
  Registry,
  type PortcullisMetrics,
} from './metrics.ts';
export { createLogger, REDACTED_PATHS, type Logger, type LoggerOptions } from './logger.ts';
export { loadConfig, ConfigError, env } from './config.ts';
export { Health, type HealthCheck, type HealthReport, type ComponentStatus } from './health.ts';
export { requestIdFrom } from './request-id.ts';
export {
  validTraceparent,
  remoteSpanContext,
  traceparentOf,
  startSpan,
  endSpan,
  SpanKind,
  type Span,
  type Tracer,
  type SpanOptions,
} from './tracing.ts';
export { startTracing, tracingConfigFromEnv, TRACING_ENV, type Tracing, type TracingConfig } from './tracing-sdk.ts';
