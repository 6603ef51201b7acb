import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';

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
 * through their `connection` event so neither needs a port of its own.
 */
export async function listenDual(options: DualServerOptions): Promise<DualServer> {
  const http1 = createHttpServer({ keepAliveTimeout: 65_000, headersTimeout: 10_000, requestTimeout: 30_000 }, options.http1);
  // http.Server starts tracking connections (idle detection, headers/request timeouts
  // against slow senders) on its 'listening' event. It never listens itself here, since
  // the net server hands it sockets, so announce it by hand.
  http1.emit('listening');
  const http2 = createH2Server({ settings: { maxConcurrentStreams: 1000 } }, options.http2);
  const sockets = new Set<Socket>();
  // Connections that have not sent their first bytes yet belong to neither server.
  const unrouted = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  let closing = false;
  // Once closing, a keep-alive connection is closed as soon as its current response is out.
  http1.on('request', (_req, res) => {
    res.once('finish', () => {
      if (closing) setImmediate(() => http1.closeIdleConnections());
    });
  });
  http2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  const net = createNetServer((socket) => {
    sockets.add(socket);
    unrouted.add(socket);
    socket.once('close', () => {
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
      unrouted.delete(socket);
      socket.unshift(seen);
      (isH2 ? http2 : http1).emit('connection', socket);
    };
    socket.on('readable', route);
  });

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
