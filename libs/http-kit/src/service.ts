import {
  ConfigError,
  Health,
  collectProcessMetrics,
  createLogger,
  defaultRegistry,
  portcullisMetrics,
  resetRequestMetrics,
  startTracing,
  tracingConfigFromEnv,
  type Logger,
} from '@portcullis/observability';
import { buildOpenApi, type OpenApiInfo } from './openapi.ts';
import { probeRoutes } from './probes.ts';
import { createExpressApp, createHttp1Listener } from './express-adapter.ts';
import type { ServerContext } from './execute.ts';
import { createH2Handler } from './h2-adapter.ts';
import { listenDual, type DualServer } from './dual-server.ts';
import type { ServerLimits } from './limits.ts';
import type { Route } from './route.ts';

/**
 * What every service process starts with: its JSON logger, Node's process metrics and
 * the PRODUCT.md metrics in the default registry (the one `/metrics` exposes), an
 * empty Health its dependencies register with, and tracing from the standard OTEL_*
 * variables (off unless an OTLP endpoint is set; a bad value is a ConfigError).
 */
export async function createServiceContext(
  service: string,
  logLevel: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerContext & Required<Pick<ServerContext, 'tracing'>>> {
  const tracing = await startTracing(tracingConfigFromEnv(service, env));
  collectProcessMetrics(defaultRegistry);
  return {
    service,
    log: createLogger({ service, level: logLevel }),
    metrics: portcullisMetrics(defaultRegistry),
    health: new Health(),
    tracing,
  };
}

/** Options for {@link serveRoutes}. */
export interface ServeOptions {
  routes: readonly Route[];
  context: ServerContext;
  port: number;
  host: string;
  /** When given, the PRODUCT.md probes (`/health`, `/alive`, `/ready`, `/metrics`) and `/openapi.json` are added. */
  openapi?: OpenApiInfo;
  /**
   * Sends real requests to `origin`, a private loopback port serving the same routes,
   * before the real port opens: the first connections then find the request path
   * (sockets, HTTP/1.1 and HTTP/2 parsing, routing, validation, handlers) compiled.
   * Nothing was served before, so the metrics these requests left are reset.
   */
  warmUp?: (origin: string) => Promise<void>;
  /** Header size, slow-client timeouts and the connection cap of the real port (see ServerLimits). */
  limits?: ServerLimits;
}

/** Serves the routes over HTTP/1.1 (express) and h2c on one port. */
export async function serveRoutes(options: ServeOptions): Promise<DualServer> {
  const { context } = options;
  const routes = options.openapi === undefined ? options.routes : withStandardRoutes(options.routes, context, options.openapi);
  const handlers = {
    http1: createHttp1Listener(routes, context, createExpressApp(routes, context)),
    http2: createH2Handler(routes, context),
  };
  if (options.warmUp !== undefined) {
    // The same routes and code, without tracing: warm-up requests are nobody's trace.
    const untraced = { ...context, tracing: undefined };
    const scratch = await listenDual({
      port: 0,
      host: '127.0.0.1',
      http1: createHttp1Listener(routes, untraced, createExpressApp(routes, untraced)),
      http2: createH2Handler(routes, untraced),
    });
    try {
      await options.warmUp(`http://127.0.0.1:${scratch.port}`);
    } finally {
      await scratch.close(1_000);
    }
    resetRequestMetrics(context.metrics);
  }
  return listenDual({ port: options.port, host: options.host, limits: options.limits, ...handlers });
}

/** How long a drain may take by default (ms); the process exits at the latest {@link DRAIN_HARD_STOP_MS} after that. */
export const DRAIN_TIMEOUT_MS = 10_000;
/** Grace past the drain deadline before a draining process exits whatever it is doing (ms). */
export const DRAIN_HARD_STOP_MS = 2_000;

/**
 * SIGTERM/SIGINT drain, as PRODUCT.md asks: mark not ready, stop accepting, finish
 * in-flight work, run the service's own cleanup (bus, Redis), exit 0. A second signal
 * (unless `repeatedSignal` is `ignore`), or a drain that overruns `timeoutMs`, exits at once.
 */
export function drainOnSignals(options: {
  context: ServerContext;
  server: DualServer;
  cleanup?: () => Promise<void>;
  timeoutMs?: number;
  log: Logger;
  /**
   * `ignore`: a signal during the drain changes nothing (a cluster worker, which gets the
   * terminal's Ctrl-C and its primary's forwarded signal; the primary enforces the deadline).
   */
  repeatedSignal?: 'exit' | 'ignore';
}): void {
  let draining = false;
  const drain = (signal: NodeJS.Signals): void => {
    if (draining) {
      if (options.repeatedSignal === 'ignore') return;
      process.exit(1);
    }
    draining = true;
    const timeoutMs = options.timeoutMs ?? DRAIN_TIMEOUT_MS;
    options.log.info({ signal }, 'draining');
    options.context.health.startDraining();
    const hardStop = setTimeout(() => {
      options.log.error({ timeoutMs }, 'drain overran its deadline; exiting');
      process.exit(1);
    }, timeoutMs + DRAIN_HARD_STOP_MS);
    hardStop.unref();
    void options.server
      .close(timeoutMs)
      .then(() => options.cleanup?.())
      .then(
        () => {
          options.log.info('drained; bye');
          process.exit(0);
        },
        (error: unknown) => {
          options.log.error({ err: error }, 'error while draining');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', drain);
  process.on('SIGINT', drain);
}

/** What a service's entry point starts: a drained server, its context, its cleanup. */
export interface RunningService {
  server: DualServer;
  context: ServerContext;
  log: Logger;
  /** Settles once the service has warmed up and can answer (true), or was stopped first (false). Absent: ready once listening. */
  ready?: Promise<boolean>;
  stop(): Promise<void>;
}

/** What {@link runService} tells when the service accepts connections, then when it is ready. */
export type ServiceAnnouncement = 'listening' | 'ready';

/**
 * A service's `main`: reads and validates its configuration, starts it, drains on
 * SIGTERM/SIGINT, prints `<name> listening on <url>` once it accepts connections and
 * `<name> ready on <url>` once its warm-up is done and `/ready` answers 200 (what `npm
 * start` and the tests wait for). A bad configuration value or option exits 2 with a
 * message that names it, not a stack trace.
 *
 * `announce` replaces the two printed lines (a cluster worker reports them to its primary,
 * which prints them once for all workers); `repeatedSignal` is passed to the drain.
 */
export async function runService<Config extends object>(options: {
  name: string;
  readConfig: () => Config;
  start: (config: Config) => Promise<RunningService>;
  host: (config: Config) => string;
  announce?: (event: ServiceAnnouncement, url: string) => void;
  repeatedSignal?: 'exit' | 'ignore';
}): Promise<void> {
  let service: RunningService;
  let config: Config;
  try {
    config = options.readConfig();
    service = await options.start(config);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof RangeError) {
      console.error(`${options.name}: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  drainOnSignals({
    context: service.context,
    server: service.server,
    log: service.log,
    repeatedSignal: options.repeatedSignal,
    // Spans of the last requests are exported after everything else has stopped.
    cleanup: () => service.stop().finally(() => service.context.tracing?.shutdown()),
  });
  const url = `http://${options.host(config)}:${service.server.port}`;
  const announce = options.announce ?? ((event: ServiceAnnouncement) => console.log(`${options.name} ${event} on ${url}`));
  service.log.info({ url }, `${options.name} listening`);
  announce('listening', url);
  if (await (service.ready ?? Promise.resolve(true))) {
    service.log.info({ url, health: service.context.health.report() }, `${options.name} ready`);
    announce('ready', url);
  }
}

/** The service's routes plus the probes and the OpenAPI document that describes them all. */
function withStandardRoutes(own: readonly Route[], context: ServerContext, info: OpenApiInfo): Route[] {
  const routes = [...own, ...probeRoutes(context.health, defaultRegistry)];
  const document = buildOpenApi(routes, info);
  routes.push({
    method: 'GET',
    path: '/openapi.json',
    traced: false,
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1' } },
    handle: () => ({ json: document }),
  });
  return routes;
}
