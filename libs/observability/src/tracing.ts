import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';

export { SpanKind, type Span, type Tracer };

/**
 * Tracing as the libraries and services use it: the OpenTelemetry API with the W3C
 * `traceparent` passed explicitly (a string on requests, batches and bus envelopes)
 * rather than through an async context manager. Each traced layer takes an optional
 * `Tracer`; without one (tracing off) it creates no span and only hands the caller's
 * `traceparent` on, so tracing off costs a string check per request.
 */

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * A W3C `traceparent` value if `value` is a well-formed one (version `ff` and all-zero
 * ids refused, as the spec says), otherwise undefined: a malformed or hostile header
 * starts a new trace instead of being passed on. One regex test: every request of both
 * services runs it, traced or not (`npm run bench -- tracing`).
 */
export function validTraceparent(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length !== 55 || !TRACEPARENT.test(value)) return undefined;
  if (value.startsWith('ff') || value.slice(3, 35) === ZERO_TRACE_ID || value.slice(36, 52) === ZERO_SPAN_ID) return undefined;
  return value;
}

/** The span context a `traceparent` names, marked remote; undefined when it is not valid. */
export function remoteSpanContext(traceparent: string | undefined): SpanContext | undefined {
  const valid = validTraceparent(traceparent);
  if (valid === undefined) return undefined;
  const parsed = parseTraceParent(valid);
  return parsed === null ? undefined : { ...parsed, isRemote: true };
}

/** The `traceparent` to send downstream so the next hop's spans become this span's children. */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** What {@link startSpan} needs besides a name. */
export interface SpanOptions {
  kind: SpanKind;
  /** The caller's `traceparent`; the span continues that trace (a malformed one is ignored). */
  parent?: string | undefined;
  /** Other callers' `traceparent`s this span also serves (a batch carries many requests). */
  links?: readonly (string | undefined)[];
  attributes?: Attributes;
}

/**
 * Starts a span as the child of a remote `traceparent` (or a new root), linked to the
 * other traces it serves. Sampling is the tracer's: an unsampled span still has a
 * context whose `traceparent` says "not sampled" downstream.
 */
export function startSpan(tracer: Tracer, name: string, options: SpanOptions): Span {
  const parent = remoteSpanContext(options.parent);
  const context = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
  let links: Link[] | undefined;
  if (options.links !== undefined) {
    const seen = new Set<string>();
    for (const link of options.links) {
      if (link === undefined || link === options.parent || seen.has(link)) continue;
      seen.add(link);
      const linked = remoteSpanContext(link);
      if (linked !== undefined) (links ??= []).push({ context: linked });
    }
  }
  return tracer.startSpan(
    name,
    { kind: options.kind, ...(options.attributes ? { attributes: options.attributes } : {}), ...(links ? { links } : {}) },
    context,
  );
}

/** Ends a span; with `error` it is marked failed and the error recorded (its message only, never request data). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const err = error instanceof Error ? error : new Error(String(error));
    const code = (error as { code?: unknown }).code;
    span.recordException({ name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : err.name });
  }
  span.end();
}
