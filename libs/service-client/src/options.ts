import { optionError, optionInt } from '@portcullis/contracts';
import type { Registry, Tracer } from '@portcullis/observability';

/** Breaker thresholds of {@link PolicyClientOptions}. */
export interface BreakerOptions {
  /** Consecutive failed batch calls that open the breaker. Default 3. */
  consecutiveFailures?: number;
  /** Failure percentage over the rolling window that opens it. Default 50. */
  errorThresholdPercentage?: number;
  /** Length of the rolling window (ms). Default 10 000. */
  rollingWindowMs?: number;
  /** Calls in the window before the percentage rule applies. Default 10. */
  volumeThreshold?: number;
  /**
   * Longest the breaker stays open before one trial call (ms). Default 15 000. The first
   * opening lasts `firstResetTimeoutMs`, each failed trial doubles it up to this, and a
   * session reopened to the service ends the wait at once.
   */
  resetTimeoutMs?: number;
  /** Open period of a breaker that just opened (ms). Default 1 000 (at most `resetTimeoutMs`). */
  firstResetTimeoutMs?: number;
}

/** Options of {@link PolicyClient}. Everything but `url` has a default. */
export interface PolicyClientOptions {
  /** The policy-service origin, `http://host:port` (h2c, prior knowledge). */
  url: string;
  /** `target` label of the metrics. Default `policy-service`. */
  target?: string;
  /** Default per-call deadline (ms), retries included. Default 50. */
  timeoutMs?: number;
  /**
   * Longest single HTTP attempt (ms), always capped by the time left before the deadline.
   * Default: half the batch's deadline budget, so one stalled attempt leaves room for a retry.
   */
  attemptTimeoutMs?: number;
  /** Distinct items per batch call. Default 50. */
  maxBatch?: number;
  /** Largest batch body (bytes); a single larger item is still sent, alone. Default 262 144. */
  maxBatchBytes?: number;
  /** Longest a request waits for a batch to fill while another batch is in flight (ms). Default 10. */
  maxWaitMs?: number;
  /**
   * Most items on the wire at once. The limit in force adapts below it: it falls while
   * batches take longer than a quarter of `timeoutMs` (the service is queueing) and climbs
   * back while they do not; past it requests gather, and past a batch's worth of those a
   * call is refused at once with E_POLICY_BUSY. Default 200.
   */
  maxInFlight?: number;
  /** `false` sends every call as its own one-item batch (benchmark baseline). Default true. */
  batching?: boolean;
  /** Extra attempts after a retryable failure, deadline permitting. Default 2. */
  retries?: number;
  /** First backoff delay (ms); doubles per retry, with jitter. Default 2. */
  backoffBaseMs?: number;
  /** Largest response body accepted (bytes); a larger one is E_POLICY_UNAVAILABLE. Default 8 MiB. */
  maxResponseBytes?: number;
  /**
   * An unused session is closed after this long (ms) and reopened at once: kept under the
   * server's keep-alive (http-kit: 65 s) so the client, not the server, ends it. Default 60 000.
   */
  sessionIdleMs?: number;
  breaker?: BreakerOptions;
  /** prom-client registry for the metrics. Default: observability's default registry. */
  registry?: Registry;
  /** With a tracer, each batch call is a client span (child of its first caller, linked to the others). */
  tracer?: Tracer | undefined;
}

export type ResolvedOptions = Required<Omit<PolicyClientOptions, 'registry' | 'breaker' | 'attemptTimeoutMs' | 'tracer'>> & {
  attemptTimeoutMs: number | undefined;
  tracer: Tracer | undefined;
  breaker: Required<BreakerOptions>;
  registry: Registry | undefined;
};

/** An integer in min..max; `undefined` takes the fallback. */
const int = (name: string, value: number | undefined, fallback: number, min: number, max: number): number =>
  optionInt(name, value, fallback, min, max);

/** Validates one per-call `timeoutMs` the same way as the constructor's. */
export function resolveTimeout(value: number | undefined, fallback: number): number {
  return int('timeoutMs', value, fallback, 1, 600_000);
}

/** Validates and defaults the options once; a bad value throws a RangeError naming it. */
export function resolveOptions(options: PolicyClientOptions): ResolvedOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw optionError('url', 'an http:// URL', options.url);
  }
  // h2c is cleartext by definition; https would need ALPN, which this client does not do.
  if (url.protocol !== 'http:') throw optionError('url', 'an http:// URL', options.url);
  const target = options.target ?? 'policy-service';
  if (typeof target !== 'string' || target.length === 0 || target.length > 100)
    throw optionError('target', 'a string of 1 to 100 characters', target);
  if (options.batching !== undefined && typeof options.batching !== 'boolean') throw optionError('batching', 'a boolean', options.batching);
  const breaker = options.breaker ?? {};
  const errorThresholdPercentage = breaker.errorThresholdPercentage ?? 50;
  if (typeof errorThresholdPercentage !== 'number' || !(errorThresholdPercentage > 0 && errorThresholdPercentage <= 100)) {
    throw optionError('breaker.errorThresholdPercentage', 'in (0, 100]', errorThresholdPercentage);
  }
  const resetTimeoutMs = int('breaker.resetTimeoutMs', breaker.resetTimeoutMs, 15_000, 1, 3_600_000);
  return {
    url: url.origin,
    target,
    timeoutMs: resolveTimeout(options.timeoutMs, 50),
    attemptTimeoutMs: options.attemptTimeoutMs === undefined ? undefined : int('attemptTimeoutMs', options.attemptTimeoutMs, 0, 1, 600_000),
    maxBatch: int('maxBatch', options.maxBatch, 50, 1, 10_000),
    maxBatchBytes: int('maxBatchBytes', options.maxBatchBytes, 262_144, 64, 64 * 1024 * 1024),
    maxWaitMs: int('maxWaitMs', options.maxWaitMs, 10, 0, 60_000),
    maxInFlight: int('maxInFlight', options.maxInFlight, 200, 1, 1_000_000),
    batching: options.batching ?? true,
    retries: int('retries', options.retries, 2, 0, 10),
    backoffBaseMs: int('backoffBaseMs', options.backoffBaseMs, 2, 0, 60_000),
    maxResponseBytes: int('maxResponseBytes', options.maxResponseBytes, 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    sessionIdleMs: int('sessionIdleMs', options.sessionIdleMs, 60_000, 10, 3_600_000),
    breaker: {
      consecutiveFailures: int('breaker.consecutiveFailures', breaker.consecutiveFailures, 3, 1, 1000),
      errorThresholdPercentage,
      rollingWindowMs: int('breaker.rollingWindowMs', breaker.rollingWindowMs, 10_000, 10, 3_600_000),
      volumeThreshold: int('breaker.volumeThreshold', breaker.volumeThreshold, 10, 0, 1_000_000),
      resetTimeoutMs,
      firstResetTimeoutMs: int(
        'breaker.firstResetTimeoutMs',
        breaker.firstResetTimeoutMs,
        Math.min(1_000, resetTimeoutMs),
        1,
        resetTimeoutMs,
      ),
    },
    registry: options.registry,
    tracer: options.tracer,
  };
}
