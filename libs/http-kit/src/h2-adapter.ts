import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { requestIdFrom } from '@portcullis/observability';
import { errorResponse, executeRoute, matchRoute, type Outgoing, type ServerContext } from './execute.ts';
import type { Route } from './route.ts';

/**
 * The h2c side: the same routes, matched by exact path, answered through node:http2's
 * compatibility API. No express here: express cannot run on HTTP/2 requests.
 */
export function createH2Handler(routes: readonly Route[], context: ServerContext) {
  return (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const found = matchRoute(routes, req.method, path);
    const answer = (outgoing: Outgoing): void => {
      // A request cut off for arriving too slowly (see guards.ts) has been answered already.
      if (res.stream.destroyed || res.headersSent) return;
      res.writeHead(outgoing.status, outgoing.headers);
      res.end(outgoing.payload);
    };
    if (!('handle' in found)) {
      answer(errorResponse(found, requestIdFrom(req.headers['x-request-id']), context.log));
      return;
    }
    void executeRoute(found, { method: req.method, headers: req.headers, body: req, peerAddress: peerAddress(req) }, context).then(answer);
  };
}

/** The peer's address through the session's socket: `req.socket` would build a Proxy per request. */
const peerAddress = (req: Http2ServerRequest): string | undefined => req.stream.session?.socket.remoteAddress;
