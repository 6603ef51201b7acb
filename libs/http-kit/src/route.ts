import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '@portcullis/observability';
import type { z } from 'zod';

/** What a route handler receives, the same whichever protocol carried the request. */
export interface RouteInput<Body> {
  body: Body;
  headers: IncomingHttpHeaders;
  requestId: string;
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
export interface Route<Body = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  summary: string;
  /** Validates the parsed JSON body; its failure is a 400 `E_VALIDATION` before the handler runs. */
  body?: z.ZodType<Body>;
  /** Largest accepted body in bytes (default 64 KiB); larger is a 413. */
  bodyLimit?: number;
  responses: Record<number, RouteResponse>;
  /** Runs before the body is read; throws an HttpError (401/403) to refuse the caller. */
  authorize?: (headers: IncomingHttpHeaders) => void;
  /** Set when the route needs a bearer token, so OpenAPI says so. */
  security?: 'bearer';
  handle(input: RouteInput<Body>): RouteResult | Promise<RouteResult>;
}

/** Keeps the generic body type of a route while storing routes in one array. */
export function defineRoute<Body>(route: Route<Body>): Route {
  return route as unknown as Route;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;
