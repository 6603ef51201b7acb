export { HttpError, headersTooLarge, malformedRequest, notFound, payloadTooLarge, requestTimeout } from './errors.ts';
export { defineRoute, DEFAULT_BODY_LIMIT, type Route, type RouteInput, type RouteResult, type RouteResponse } from './route.ts';
export { executeRoute, errorResponse, httpErrorResponse, matchRoute, type ServerContext, type Incoming, type Outgoing } from './execute.ts';
export { readJsonBody } from './body.ts';
export { authorizationCredentials } from './authorization.ts';
export { clientAddress, compileTrustProxy, type TrustProxy } from './client-address.ts';
export { createExpressApp } from './express-adapter.ts';
export { createH2Handler } from './h2-adapter.ts';
export { listenDual, type DualServer, type DualServerOptions } from './dual-server.ts';
export { DEFAULT_SERVER_LIMITS, resolveLimits, type ResolvedLimits, type ServerLimits } from './limits.ts';
export { buildOpenApi, type OpenApiInfo } from './openapi.ts';
export { probeRoutes, serveMetricsFrom } from './probes.ts';
export {
  serveRoutes,
  createServiceContext,
  drainOnSignals,
  runService,
  DRAIN_HARD_STOP_MS,
  DRAIN_TIMEOUT_MS,
  type ServeOptions,
  type RunningService,
  type ServiceAnnouncement,
} from './service.ts';
