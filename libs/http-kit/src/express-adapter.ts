import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type Request, type Response } from 'express';
import { requestIdFrom } from '@portcullis/observability';
import { errorResponse, executeRoute, matchRoute, writeHttp1, type ServerContext } from './execute.ts';
import type { Route } from './route.ts';

/**
 * The HTTP/1.1 side: an express app whose routes are the protocol-neutral ones. Express
 * does the routing; bodies are read by the shared code so both protocols enforce the
 * same limits and errors.
 */
export function createExpressApp(routes: readonly Route[], context: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Draining (closing keep-alive connections once their response is out) is the
  // listener's job, see dual-server.ts, so it covers every route the same way.
  for (const route of routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    app[method](route.path, (req: Request, res: Response) => {
      void executeRoute(
        route,
        { method: req.method, headers: req.headers, body: req, peerAddress: req.socket.remoteAddress },
        context,
      ).then((outgoing) => writeHttp1(res, outgoing));
    });
  }
  app.use((req: Request, res: Response) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const found = matchRoute(routes, req.method, req.path);
    writeHttp1(res, errorResponse(found, requestId, context.log));
  });
  return app;
}

/**
 * The HTTP/1.1 listener: routes marked `hotPath` are answered here, by exact method and
 * path, without express's router and middleware; every other request goes to `app`.
 */
export function createHttp1Listener(routes: readonly Route[], context: ServerContext, app: Express): RequestListener {
  const hot = new Map(routes.filter((route) => route.hotPath === true).map((route) => [`${route.method} ${route.path}`, route]));
  if (hot.size === 0) return app;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const route = hot.get(`${req.method ?? ''} ${query === -1 ? url : url.slice(0, query)}`);
    if (route === undefined) {
      app(req, res);
      return;
    }
    void executeRoute(
      route,
      { method: route.method, headers: req.headers, body: req, peerAddress: req.socket.remoteAddress },
      context,
    ).then((outgoing) => writeHttp1(res, outgoing));
  };
}
