import type { Tracer } from '@opentelemetry/api';
import { z } from 'zod';
import { ConfigError, loadConfig } from './config.ts';

/**
 * The standard OpenTelemetry variables the services honour. Tracing is on when an OTLP
 * endpoint is set and `OTEL_SDK_DISABLED` is not `true`.
 */
export const TRACING_ENV = {
  /** Base URL of an OTLP/HTTP collector; spans go to `<url>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Full URL for spans, overriding the base one. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Only the parent-based ratio sampler is offered: it keeps a trace whole across services. */
  OTEL_TRACES_SAMPLER: z.literal('parentbased_traceidratio').optional(),
  /** Share of new traces sampled, 0 to 1 (default 0.1). A caller's sampled flag is respected. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(0.1),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).optional(),
  /** How often finished spans are exported (ms, default 5000). */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(1).max(600_000).default(5_000),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
};

/** Tracing settings of one service process. */
export interface TracingConfig {
  serviceName: string;
  /** Where spans are sent (OTLP/HTTP JSON); undefined turns tracing off. */
  url: string | undefined;
  sampleRatio: number;
  exportDelayMs: number;
}

/** Reads {@link TRACING_ENV}; a malformed value throws a ConfigError naming it. */
export function tracingConfigFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env): TracingConfig {
  const values = loadConfig(TRACING_ENV, env);
  const base = values.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url =
    values.OTEL_SDK_DISABLED === 'true'
      ? undefined
      : (values.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`));
  return {
    serviceName: values.OTEL_SERVICE_NAME ?? serviceName,
    url,
    sampleRatio: values.OTEL_TRACES_SAMPLER_ARG,
    exportDelayMs: values.OTEL_BSP_SCHEDULE_DELAY,
  };
}

/** A process's tracer (undefined when tracing is off) and how to flush it on shutdown. */
export interface Tracing {
  readonly tracer: Tracer | undefined;
  /** Exports what is buffered and stops; safe to call more than once. */
  shutdown(): Promise<void>;
}

const TRACING_OFF: Tracing = { tracer: undefined, shutdown: () => Promise.resolve() };

/**
 * Starts the OpenTelemetry SDK when `config.url` is set: a parent-based trace-id-ratio
 * sampler, batched OTLP/HTTP export, the service name as the resource. The SDK is
 * loaded only then, so a process with tracing off never imports it. Nothing is
 * registered globally: the tracer is handed to the layers that trace.
 */
export async function startTracing(config: TracingConfig): Promise<Tracing> {
  if (config.url === undefined) return TRACING_OFF;
  if (!(config.sampleRatio >= 0 && config.sampleRatio <= 1)) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', 'must be between 0 and 1');
  const [
    { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler },
    { OTLPTraceExporter },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: config.url }), scheduledDelayMillis: config.exportDelayMs }),
    ],
  });
  let stopping: Promise<void> | undefined;
  return {
    tracer: provider.getTracer('portcullis'),
    shutdown: () => (stopping ??= provider.shutdown()),
  };
}
