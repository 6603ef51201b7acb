import { createServer as createHttpServer, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { clientErrorListener, http1Refusals, withRequestDeadline } from './guards.ts';
import { resolveLimits, type ServerLimits } from './limits.ts';

/** The HTTP/2 connection preface starts with these bytes; HTTP/1.x has no method "PRI". */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Options for {@link listenDual}. */
export interface DualServerOptions {
  port: number;
  host: string;
  /** Handles HTTP/1.1 requests (an express app). */
  http1: RequestListener;
  /** Handles HTTP/2 cleartext requests (prior knowledge). */
  http2: (req: Http2ServerRequest, res: Http2ServerResponse) => void;
  /** Header size, slow-client timeouts and the connection cap; defaults in DEFAULT_SERVER_LIMITS. */
  limits?: ServerLimits;
}

/** A running dual-protocol listener. */
export interface DualServer {
  readonly port: number;
  /**
   * Stops accepting, lets in-flight requests finish (HTTP/1.1 connections close after
   * their current response, HTTP/2 sessions get GOAWAY), and resolves when every
   * connection is gone or `timeoutMs` has passed, after which the rest are destroyed.
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Serves HTTP/1.1 and h2c on one port. Each new connection's first bytes decide: the
 * HTTP/2 preface goes to an http2 server, anything else to the http server, both fed
 * through their `connection` event so neither needs a port of its own. `limits` bound
 * what a client may hold (connections) or send (headers, slowly) before a route runs;
 * a bad limit is a RangeError naming it.
 */
export async function listenDual(options: DualServerOptions): Promise<DualServer> {
  const limits = resolveLimits(options.limits);
  const http1 = createHttpServer(
    {
      keepAliveTimeout: 65_000,
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      // Checked by http1Refusals, which answers with a code instead of an empty 400.
      requireHostHeader: false,
    },
    http1Refusals.request(options.http1),
  );
  http1.on('checkExpectation', http1Refusals.checkExpectation);
  http1.on('connect', http1Refusals.connect);
  // http.Server starts tracking connections (idle detection, headers/request timeouts
  // against slow senders) on its 'listening' event. It never listens itself here, since
  // the net server hands it sockets, so announce it by hand.
  http1.emit('listening');
  // Each socket's current response, so a late refusal never writes into one under way.
  const responses = new WeakMap<Duplex, ServerResponse>();
  http1.on(
    'clientError',
    clientErrorListener(limits, (socket) => responses.get(socket)),
  );
  const http2 = createH2Server(
    { settings: { maxConcurrentStreams: 1000, maxHeaderListSize: limits.maxHeaderBytes } },
    withRequestDeadline(options.http2, limits),
  );
  const sockets = new Set<Socket>();
  // Connections that have not sent their first bytes yet belong to neither server.
  const unrouted = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;
  http1.on('request', (req, res) => {
    responses.set(req.socket, res);
    // Once closing, a keep-alive connection is closed as soon as its current response is out.
    res.once('finish', () => {
      if (closing) setImmediate(() => http1.closeIdleConnections());
    });
  });
  http2.on('session', (session) => {
    sessions.add(session);
    // GOAWAY at the session's age limit (see maxSessionAgeMs); close() lets its streams finish.
    const aged = setTimeout(() => session.close(), limits.maxSessionAgeMs * (0.9 + Math.random() * 0.2));
    aged.unref();
    session.once('close', () => {
      clearTimeout(aged);
      sessions.delete(session);
    });
  });

  const net = createNetServer((socket) => {
    sockets.add(socket);
    unrouted.add(socket);
    // A connection that never says which protocol it speaks belongs to neither server, so
    // neither's timeouts reach it: it gets the headers timeout here.
    const silent = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    socket.once('close', () => {
      clearTimeout(silent);
      sockets.delete(socket);
      unrouted.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    let seen = Buffer.alloc(0);
    const route = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      seen = Buffer.concat([seen, chunk]);
      const compare = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, compare).equals(H2_PREFACE.subarray(0, compare));
      // Wait for more bytes only while the prefix is still ambiguous.
      if (isH2 && seen.length < H2_PREFACE.length) return;
      socket.off('readable', route);
      clearTimeout(silent);
      unrouted.delete(socket);
      socket.unshift(seen);
      (isH2 ? http2 : http1).emit('connection', socket);
    };
    socket.on('readable', route);
  });
  // Past the cap node:net closes each new connection as soon as it is accepted.
  net.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(options.port, options.host, () => {
      net.off('error', reject);
      resolve();
    });
  });
  const address = net.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;

  return {
    port,
    async close(timeoutMs = 10_000) {
      closing = true;
      net.close();
      for (const socket of unrouted) socket.destroy();
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
      http1.close();
      if (sockets.size === 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
          resolve();
        }, timeoutMs);
        timer.unref();
        const check = (): void => {
          http1.closeIdleConnections();
          if (sockets.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
        for (const socket of sockets) socket.once('close', () => setImmediate(check));
        check();
      });
    },
  };
}
