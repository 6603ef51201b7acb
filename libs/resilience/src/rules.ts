import { optionError, optionInt } from '@portcullis/contracts';

/** What a failed call was: an error from the dependency, or no answer within the deadline. */
export type FailureKind = 'failure' | 'timeout';

/**
 * When a breaker opens: a rule sees every verdict and says whether the circuit should
 * open now. `reset()` is called when the circuit closes.
 */
export interface BreakerRule {
  success(now: number): void;
  failure(now: number, kind: FailureKind): void;
  shouldOpen(now: number): boolean;
  reset(): void;
}

/**
 * Opens after `threshold` failures in a row (cockatiel's `ConsecutiveBreaker`). With
 * `timeouts: false` it neither counts nor resets on timeouts: a few slow answers in a row
 * are the tail of a loaded service, which a rate rule judges better, while errors in a
 * row (refused connections, 5xx) mean it is gone.
 */
export class ConsecutiveFailures implements BreakerRule {
  readonly #threshold: number;
  readonly #timeouts: boolean;
  #count = 0;

  constructor(threshold: number, options: { timeouts?: boolean } = {}) {
    this.#threshold = optionInt('threshold', threshold, 0, 1);
    this.#timeouts = options.timeouts ?? true;
  }

  success(): void {
    this.#count = 0;
  }

  failure(_now: number, kind: FailureKind): void {
    if (kind === 'timeout' && !this.#timeouts) return;
    this.#count += 1;
  }

  shouldOpen(): boolean {
    return this.#count >= this.#threshold;
  }

  reset(): void {
    this.#count = 0;
  }
}

/** Options of {@link FailureRate}. */
export interface FailureRateOptions {
  /** Opens when more than this share of the calls in the window failed (percent, 0–100]. */
  thresholdPercent: number;
  /** Length of the rolling window (ms). */
  windowMs: number;
  /** Calls in the window before the rule applies. */
  minimumCalls: number;
  /** Buckets the window is counted in. Default 10. */
  buckets?: number;
}

/** Opens when more than `thresholdPercent` of the calls over a rolling window failed (cockatiel's `SamplingBreaker`). */
export class FailureRate implements BreakerRule {
  readonly #options: Required<FailureRateOptions>;
  readonly #bucketMs: number;
  #buckets: { start: number; calls: number; failures: number }[] = [];

  constructor(options: FailureRateOptions) {
    const { thresholdPercent } = options;
    if (typeof thresholdPercent !== 'number' || !(thresholdPercent > 0 && thresholdPercent <= 100))
      throw optionError('thresholdPercent', 'in (0, 100]', thresholdPercent);
    const windowMs = optionInt('windowMs', options.windowMs, 0, 1);
    const minimumCalls = optionInt('minimumCalls', options.minimumCalls, 0, 0);
    const buckets = optionInt('buckets', options.buckets, 10, 1);
    this.#options = { thresholdPercent, windowMs, minimumCalls, buckets };
    this.#bucketMs = Math.max(1, Math.floor(windowMs / buckets));
  }

  success(now: number): void {
    this.#bucket(now).calls += 1;
  }

  failure(now: number): void {
    const bucket = this.#bucket(now);
    bucket.calls += 1;
    bucket.failures += 1;
  }

  shouldOpen(now: number): boolean {
    this.#expire(now);
    let calls = 0;
    let failures = 0;
    for (const bucket of this.#buckets) {
      calls += bucket.calls;
      failures += bucket.failures;
    }
    return calls > 0 && calls >= this.#options.minimumCalls && (failures / calls) * 100 > this.#options.thresholdPercent;
  }

  reset(): void {
    this.#buckets = [];
  }

  #bucket(now: number): { start: number; calls: number; failures: number } {
    this.#expire(now);
    const start = now - (now % this.#bucketMs);
    const last = this.#buckets.at(-1);
    if (last !== undefined && last.start === start) return last;
    const bucket = { start, calls: 0, failures: 0 };
    this.#buckets.push(bucket);
    return bucket;
  }

  #expire(now: number): void {
    const oldest = now - this.#options.windowMs;
    while ((this.#buckets[0]?.start ?? Number.POSITIVE_INFINITY) + this.#bucketMs <= oldest) this.#buckets.shift();
  }
}
