import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { ERROR_CODES, type ErrorBody } from '@portcullis/contracts';
import {
  SpanKind,
  endSpan,
  requestIdFrom,
  startSpan,
  traceparentOf,
  validTraceparent,
  type Health,
  type Logger,
  type PortcullisMetrics,
  type Span,
  type Tracing,
} from '@portcullis/observability';
import { readJsonBody } from './body.ts';
import { HttpError, notFound } from './errors.ts';
import { DEFAULT_BODY_LIMIT, type Route } from './route.ts';

/** What every adapter shares: who we are, where logs and metrics go, and readiness. */
export interface ServerContext {
  service: string;
  log: Logger;
  metrics: PortcullisMetrics;
  health: Health;
  /** With a tracer (tracing on), each request gets a server span continuing its `traceparent`. */
  tracing?: Tracing;
}

/** A response ready to write, whichever protocol carries it. */
export interface Outgoing {
  status: number;
  headers: Record<string, string>;
  payload: string;
}

/**
 * Writes `outgoing` on HTTP/1.1: express's routes, the hot path and the refusals of
 * guards.ts alike. `close` ends the connection after it (default: for a 413, whose refused
 * body may still be arriving; closing stops a hostile sender from making us read the rest).
 */
export function writeHttp1(res: ServerResponse, outgoing: Outgoing, close = outgoing.status === 413): void {
  const headers: Record<string, string> = { ...outgoing.headers, 'content-length': String(Buffer.byteLength(outgoing.payload)) };
  if (close) headers['connection'] = 'close';
  res.writeHead(outgoing.status, headers);
  res.end(outgoing.payload);
}

/** The parts of a request the routes need, read the same way from HTTP/1.1 and HTTP/2. */
export interface Incoming {
  method: string;
  headers: IncomingHttpHeaders;
  body: Readable;
  peerAddress: string | undefined;
}

/**
 * Runs one route for one request: authorization, body limit and JSON parsing, schema
 * validation, the handler, and the error shape. Every failure becomes a 4xx with a
 * stable code; only a bug becomes a 500, and its details go to the log, not the client.
 */
export async function executeRoute(route: Route, incoming: Incoming, context: ServerContext): Promise<Outgoing> {
  const started = process.hrtime.bigint();
  const requestId = requestIdFrom(incoming.headers['x-request-id']);
  const incomingTrace = validTraceparent(incoming.headers.traceparent);
  let span: Span | undefined;
  const tracer = context.tracing?.tracer;
  if (tracer !== undefined && route.traced !== false) {
    span = startSpan(tracer, `${route.method} ${route.path}`, {
      kind: SpanKind.SERVER,
      parent: incomingTrace,
      attributes: { 'http.request.method': route.method, 'http.route': route.path, 'portcullis.request_id': requestId },
    });
  }
  let outgoing: Outgoing;
  let failure: unknown;
  try {
    const auth = await route.authorize?.(incoming.headers);
    let body: unknown = undefined;
    if (route.body !== undefined) {
      const raw = await readJsonBody(incoming.body, incoming.headers, route.bodyLimit ?? DEFAULT_BODY_LIMIT, route.acceptsForm === true);
      const parsed = route.body.safeParse(raw);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        const where = first?.path.length ? first.path.join('.') : 'body';
        throw new HttpError(400, ERROR_CODES.validation, `${where}: ${first?.message ?? 'invalid'}`, {
          details: parsed.error.issues.slice(0, 10).map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
        });
      }
      body = parsed.data;
    }
    const traceparent = span === undefined ? incomingTrace : traceparentOf(span);
    const result = await route.handle({
      body,
      auth,
      headers: incoming.headers,
      peerAddress: incoming.peerAddress,
      requestId,
      traceparent,
      log: context.log,
    });
    const headers: Record<string, string> = { 'x-request-id': requestId, ...result.headers };
    if ('json' in result) {
      headers['content-type'] = 'application/json; charset=utf-8';
      outgoing = { status: result.status ?? 200, headers, payload: JSON.stringify(result.json) };
    } else {
      headers['content-type'] = result.contentType;
      outgoing = { status: result.status ?? 200, headers, payload: result.text };
    }
  } catch (error) {
    outgoing = errorResponse(error, requestId, context.log, route.errorFormat);
    failure = error;
  }
  if (span !== undefined) {
    span.setAttribute('http.response.status_code', outgoing.status);
    // Only server faults mark the span failed; a 4xx is the caller's error (OTel HTTP conventions).
    endSpan(span, outgoing.status >= 500 ? failure : undefined);
  }
  context.metrics.httpRequestDuration.observe(
    { service: context.service, route: route.path, method: route.method, status_code: String(outgoing.status) },
    Number(process.hrtime.bigint() - started) / 1e9,
  );
  return outgoing;
}

/** Turns anything thrown into the error shape of PRODUCT.md, or of RFC 6749 §5.2 for OAuth routes. */
export function errorResponse(error: unknown, requestId: string, log: Logger, format?: 'oauth'): Outgoing {
  const known = error instanceof HttpError;
  if (!known) log.error({ err: error, requestId }, 'unhandled error');
  // What the client sees of a bug: nothing but its status and code.
  const refusal = known ? error : new HttpError(500, ERROR_CODES.internal, 'internal error');
  if (format !== 'oauth') return httpErrorResponse(refusal, requestId);
  const { status } = refusal;
  const code = refusal.oauthError ?? (status === 401 ? 'invalid_client' : status >= 500 ? 'server_error' : 'invalid_request');
  return {
    status,
    headers: { ...jsonHeaders(requestId, refusal), 'cache-control': 'no-store', pragma: 'no-cache' },
    payload: JSON.stringify({ error: code, error_description: refusal.message }),
  };
}

/**
 * The PRODUCT.md error shape of an HttpError. Also for answers written before any route
 * runs (a request head the parser refused, a body that did not arrive in time), where
 * there is neither a route nor a logger.
 */
export function httpErrorResponse(error: HttpError, requestId: string): Outgoing {
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: error.message,
      requestId,
      ...(error.details !== undefined ? { details: error.details } : {}),
    },
  };
  return { status: error.status, headers: jsonHeaders(requestId, error), payload: JSON.stringify(body) };
}

const jsonHeaders = (requestId: string, error: HttpError): Record<string, string> => ({
  'content-type': 'application/json; charset=utf-8',
  'x-request-id': requestId,
  ...error.headers,
});

/** Finds the route for a method and path, or the error that explains why there is none. */
export function matchRoute(routes: readonly Route[], method: string, path: string): Route | HttpError {
  const allowed: string[] = [];
  for (const route of routes) {
    if (route.path !== path) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return route;
    allowed.push(route.method, ...(route.method === 'GET' ? ['HEAD'] : []));
  }
  // A 405 names the methods the path does take (RFC 9110 §15.5.6).
  return allowed.length > 0
    ? new HttpError(405, ERROR_CODES.methodNotAllowed, `${method} is not allowed on ${path}`, { headers: { allow: allowed.join(', ') } })
    : notFound(`no route for ${method} ${path}`);
}
