import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { constants as h2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import { requestIdFrom } from '@portcullis/observability';
import { ERROR_CODES } from '@portcullis/contracts';
import { HttpError, headersTooLarge, malformedRequest, requestTimeout } from './errors.ts';
import { httpErrorResponse, writeHttp1, type Outgoing } from './execute.ts';
import type { ResolvedLimits } from './limits.ts';

/**
 * After a refused request head is answered, how long the client has to read the answer
 * and close. Closing at once, while its request is still arriving, sends a TCP reset,
 * which can make the client drop the answer unread.
 */
const LINGER_MS = 2_000;

/** The answer to an error node:http's parser or its timeouts raised, or undefined to just close. */
function refusalFor(error: NodeJS.ErrnoException, limits: ResolvedLimits): HttpError | undefined {
  if (error.code === 'HPE_HEADER_OVERFLOW') return headersTooLarge(limits.maxHeaderBytes);
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return requestTimeout(limits.headersTimeoutMs, limits.requestTimeoutMs);
  // llhttp's reasons are fixed text ("Invalid method encountered"), never the client's bytes.
  if (error.code?.startsWith('HPE_') === true) return malformedRequest(String((error as { reason?: unknown }).reason ?? error.code));
  return undefined; // ECONNRESET and the like: nobody left to answer.
}

/** An answer written straight to the socket, as no ServerResponse exists for a refused head. */
function rawHttp1(outgoing: Outgoing): string {
  const headers = { ...outgoing.headers, 'content-length': String(Buffer.byteLength(outgoing.payload)), connection: 'close' };
  let head = `HTTP/1.1 ${outgoing.status} ${STATUS_CODES[outgoing.status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n${outgoing.payload}`;
}

/**
 * A listener for node:http's `clientError`: a request head over the limit is a 431
 * `E_HEADERS_TOO_LARGE`, a malformed one a 400 `E_MALFORMED_REQUEST`, a request that did
 * not arrive in time a 408 `E_REQUEST_TIMEOUT` (node:http would answer the same statuses
 * with no body), each in the services' JSON error shape, and the connection is closed.
 * `inFlight` gives the socket's current response: once its headers are out, nothing can
 * be written without corrupting it, so the socket is only closed.
 */
export function clientErrorListener(limits: ResolvedLimits, inFlight: (socket: Duplex) => ServerResponse | undefined) {
  const answered = new WeakSet<Duplex>();
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    // The parser, once failed, fails again on every later chunk: the first answer stands.
    if (answered.has(socket)) return;
    answered.add(socket);
    const refusal = refusalFor(error, limits);
    const response = inFlight(socket);
    const midResponse = response !== undefined && !response.writableEnded && response.headersSent;
    if (refusal === undefined || !socket.writable || midResponse) {
      socket.destroy();
      return;
    }
    socket.end(rawHttp1(httpErrorResponse(refusal, requestIdFrom(undefined))));
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    // A timed-out request is still arriving: close once the answer is out, so the rest of
    // it never reaches a handler. A failed parser reads nothing more, so the client may
    // finish sending and close first.
    if (refusal.status === 408) socket.once('finish', () => socket.destroy());
  };
}

/**
 * Wraps an HTTP/2 request handler so a request whose body has not all arrived within
 * `requestTimeoutMs` is answered 408 `E_REQUEST_TIMEOUT` and its stream closed, as
 * node:http's requestTimeout does for HTTP/1.1; HTTP/2 has no such timeout of its own.
 * Requests without a body (END_STREAM on the headers) cost nothing here.
 */
export function withRequestDeadline(
  handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  limits: ResolvedLimits,
): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  return (req, res) => {
    if (!req.stream.endAfterHeaders) {
      const timer = setTimeout(() => {
        // Answered already (node:http2 then closes the stream itself), or the body arrived
        // and a handler is working on it.
        if (res.headersSent || req.readableEnded || res.stream.destroyed) return;
        const outgoing = httpErrorResponse(
          requestTimeout(limits.headersTimeoutMs, limits.requestTimeoutMs),
          requestIdFrom(req.headers['x-request-id']),
        );
        res.writeHead(outgoing.status, outgoing.headers);
        // RST_STREAM(NO_ERROR) after the answer tells the client to stop sending (RFC 9113 §8.1).
        res.end(outgoing.payload, () => res.stream.close(h2.NGHTTP2_NO_ERROR));
      }, limits.requestTimeoutMs);
      res.stream.once('close', () => clearTimeout(timer));
    }
    handler(req, res);
  };
}

/** Answers `res` with `error` in the services' JSON shape, and closes the connection after it. */
function refuse(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  writeHttp1(res, httpErrorResponse(error, requestIdFrom(req.headers['x-request-id'])), true);
}

/**
 * node:http refuses these requests itself with an empty body, or drops the connection;
 * these answer them in the services' JSON shape instead:
 * - `request` (wraps the handler): an HTTP/1.1 request without `Host` (RFC 9112 §3.2), or with
 *   it twice, is a 400 `E_MALFORMED_REQUEST`;
 * - `checkExpectation`: an `Expect` other than `100-continue` is a 417;
 * - `connect`: `CONNECT` (no tunnels here) is a 405, written to the socket.
 */
export const http1Refusals = {
  request:
    (handler: RequestListener): RequestListener =>
    (req, res) => {
      if (req.httpVersion === '1.1' && hostCount(req.rawHeaders) !== 1) {
        refuse(req, res, malformedRequest('an HTTP/1.1 request needs exactly one Host header'));
        return;
      }
      handler(req, res);
    },
  checkExpectation: (req: IncomingMessage, res: ServerResponse): void =>
    refuse(req, res, new HttpError(417, ERROR_CODES.malformedRequest, 'only "Expect: 100-continue" is supported')),
  connect: (req: IncomingMessage, socket: Duplex): void => {
    const refusal = new HttpError(405, ERROR_CODES.methodNotAllowed, 'CONNECT is not supported: no tunnels here');
    socket.end(rawHttp1(httpErrorResponse(refusal, requestIdFrom(req.headers['x-request-id']))));
  },
};

/** Host headers among `rawHeaders` (name, value, name, value…): node keeps only the first. */
function hostCount(rawHeaders: string[]): number {
  let count = 0;
  // A plain loop: this runs on every HTTP/1.1 request, and a callback would be allocated each time.
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') count += 1;
  }
  return count;
}
