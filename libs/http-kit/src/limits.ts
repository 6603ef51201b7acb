import { optionError, optionInt } from '@portcullis/contracts';

/**
 * What one client may hold or send before any route runs, per process. Bodies, batches
 * and tokens are bounded by the routes themselves; these bound the connection.
 */
export interface ServerLimits {
  /**
   * Request line and headers on HTTP/1.1 (over it: 431 `E_HEADERS_TOO_LARGE`), and the
   * header list of an HTTP/2 request (advertised in SETTINGS; over it the stream is
   * reset with ENHANCE_YOUR_CALM, as nghttp2 does before any handler sees it). Bytes.
   */
  maxHeaderBytes?: number;
  /** Time for a request's headers to arrive (also for a new connection's first bytes); over it, 408 `E_REQUEST_TIMEOUT`. */
  headersTimeoutMs?: number;
  /** Time for a whole request, body included, to arrive: a body sent a byte a second is cut off with 408 `E_REQUEST_TIMEOUT`. */
  requestTimeoutMs?: number;
  /** Open connections; one more is closed as soon as it is accepted, the open ones stay served. */
  maxConnections?: number;
  /**
   * Longest an HTTP/2 session is kept (ms, ±10 % so sessions opened together do not all end
   * together): then it gets GOAWAY, its streams finish, and the client opens a new one. A
   * client keeps one session for every request, and a load balancer of connections
   * (kube-proxy) picks a pod per connection, so without an end to sessions a pod added by
   * the autoscaler would get no traffic from clients already connected.
   */
  maxSessionAgeMs?: number;
}

/** The limits with every default filled in, plus how often timeouts are checked. */
export interface ResolvedLimits extends Required<ServerLimits> {
  /** How often node:http looks for expired requests: a timeout fires within this much after its deadline. */
  checkIntervalMs: number;
}

/** Defaults: Node's own header limit, and timeouts no honest client on a LAN comes near. */
export const DEFAULT_SERVER_LIMITS: Readonly<Required<ServerLimits>> = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 10_000,
  maxSessionAgeMs: 300_000,
};

/** Fills in defaults and checks every limit: a bad one is a RangeError naming it. */
export function resolveLimits(limits: ServerLimits = {}): ResolvedLimits {
  const d = DEFAULT_SERVER_LIMITS;
  const requestTimeoutMs = optionInt('requestTimeoutMs', limits.requestTimeoutMs, d.requestTimeoutMs, 1);
  const headersTimeoutMs = optionInt('headersTimeoutMs', limits.headersTimeoutMs, Math.min(d.headersTimeoutMs, requestTimeoutMs), 1);
  // node:http refuses this too, with a message that names neither of our options.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw optionError('headersTimeoutMs', `at most requestTimeoutMs (${requestTimeoutMs})`, headersTimeoutMs);
  }
  return {
    maxHeaderBytes: optionInt('maxHeaderBytes', limits.maxHeaderBytes, d.maxHeaderBytes, 1024, 2 ** 31 - 1),
    headersTimeoutMs,
    requestTimeoutMs,
    maxConnections: optionInt('maxConnections', limits.maxConnections, d.maxConnections, 1),
    maxSessionAgeMs: optionInt('maxSessionAgeMs', limits.maxSessionAgeMs, d.maxSessionAgeMs, 1),
    // node:http checks every 30 s by default, which would let a 10 s timeout run to 40 s;
    // a quarter of the shorter timeout, at most a second, keeps it close at little cost
    // (the check walks only connections with a request in progress).
    checkIntervalMs: Math.max(10, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
  };
}
