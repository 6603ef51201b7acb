import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type Request, type Response } from 'express';
import { requestIdFrom } from '@portcullis/observability';
import { errorResponse, executeRoute, matchRoute, type Outgoing, type ServerContext } from './execute.ts';
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
  const write = (res: Response, outgoing: Outgoing): void => {
    res.status(outgoing.status).set(outgoing.headers).end(outgoing.payload);
  };
  for (const route of routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    app[method](route.path, (req: Request, res: Response) => {
      void executeRoute(route, { method: req.method, headers: req.headers, body: req }, context).then((outgoing) => {
        // A refused body may still be arriving; closing stops a hostile sender from
        // making us read the rest of it.
        if (outgoing.status === 413) res.setHeader('connection', 'close');
        write(res, outgoing);
      });
    });
  }
  app.use((req: Request, res: Response) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const found = matchRoute(routes, req.method, req.path);
    write(res, errorResponse(found, requestId, context.log));
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
    void executeRoute(route, { method: route.method, headers: req.headers, body: req }, context).then((outgoing) => {
      if (outgoing.status === 413) outgoing.headers['connection'] = 'close';
      // Without a length node:http would send the body chunked, as express does not.
      outgoing.headers['content-length'] = String(Buffer.byteLength(outgoing.payload));
      res.writeHead(outgoing.status, outgoing.headers);
      res.end(outgoing.payload);
    });
  };
}
