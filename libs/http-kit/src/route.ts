import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '@portcullis/observability';
import type { z } from 'zod';

/** What a route handler receives, the same whichever protocol carried the request. */
export interface RouteInput<Body, Auth = undefined> {
  body: Body;
  /** What `authorize` returned (e.g. the verified token), checked before the body is read. */
  auth: Auth;
  headers: IncomingHttpHeaders;
  /**
   * The address of the connection's peer (a proxy, when there is one); `undefined` once the
   * socket is gone. `clientAddress` (client-address.ts) reads the client's own address through trusted proxies.
   */
  peerAddress: string | undefined;
  requestId: string;
  /**
   * W3C trace context to send downstream (policy calls, bus events): this request's span
   * when tracing is on, otherwise the caller's own `traceparent` passed through.
   */
  traceparent: string | undefined;
  log: Logger;
}

/** What a route handler returns: JSON by default, or text with a content type. */
export type RouteResult =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; contentType: string; headers?: Record<string, string> };

/** One documented response of a route, for `/openapi.json`. */
export interface RouteResponse {
  description: string;
  schema?: z.ZodType;
}

/**
 * A protocol-neutral JSON endpoint. Express serves it over HTTP/1.1 and the h2 adapter
 * over h2c, so each endpoint is written once; its schemas also document it in OpenAPI.
 */
export interface Route<Body = unknown, Auth = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  summary: string;
  /** Validates the parsed JSON body; its failure is a 400 `E_VALIDATION` before the handler runs. */
  body?: z.ZodType<Body>;
  /** Largest accepted body in bytes (default 64 KiB); larger is a 413. */
  bodyLimit?: number;
  responses: Record<number, RouteResponse>;
  /**
   * Runs before the body is read, so an unauthenticated caller learns nothing about the
   * body's validation; throws an HttpError (401/403) to refuse. Its result is `input.auth`.
   */
  authorize?: (headers: IncomingHttpHeaders) => Auth | Promise<Auth>;
  /** Also accept `application/x-www-form-urlencoded` bodies (OAuth 2.0 token endpoints). */
  acceptsForm?: boolean;
  /** `false` for probes and metrics, which would only fill traces with noise. Default true. */
  traced?: boolean;
  /**
   * `oauth` for OAuth 2.0 endpoints: every error of the route, malformed bodies included,
   * is answered as RFC 6749 §5.2 says (`{"error": "invalid_request", "error_description"}`,
   * with `Cache-Control: no-store`) instead of the PRODUCT.md error shape.
   */
  errorFormat?: 'oauth';
  /**
   * Serve it on HTTP/1.1 straight from node:http, before express sees the request: for the
   * decision path, where express's router and middleware cost ~10% of a cached decision
   * (measured with --cpu-prof). Only an exact path match takes this way; everything else
   * (limits, errors, metrics, tracing) is the same executeRoute as on any route.
   */
  hotPath?: boolean;
  /** Set when the route needs a bearer token, so OpenAPI says so. */
  security?: 'bearer';
  handle(input: RouteInput<Body, Auth>): RouteResult | Promise<RouteResult>;
}

/** Keeps the generic types of a route while storing routes in one array. */
export function defineRoute<Body, Auth = undefined>(route: Route<Body, Auth>): Route {
  return route as unknown as Route;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;
