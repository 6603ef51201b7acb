import CircuitBreaker from 'opossum';
import type { PortcullisMetrics } from '@portcullis/observability';
import { CircuitOpenError, PolicyRejectedError, isLocalStall } from './errors.ts';

/** The breaker's state as `/ready` and `portcullis_circuit_state` report it. */
export type BreakerState = 'closed' | 'half-open' | 'open';

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface BreakerLayerOptions {
  target: string;
  consecutiveFailures: number;
  errorThresholdPercentage: number;
  rollingWindowMs: number;
  volumeThreshold: number;
  resetTimeoutMs: number;
  metrics: PortcullisMetrics;
}

type Call = () => Promise<unknown>;

/**
 * The breaker layer: opossum for the rolling error-rate rule, the open/half-open timer
 * and the single probe, plus the consecutive-failure rule opossum lacks. One "call" is
 * one batch call with its retries, so a flaky attempt that a retry fixed is no failure.
 * Rejections (4xx for the whole batch) and timeouts this process caused by being too
 * busy (`isLocalStall`) say nothing about the service's health and are not counted.
 */
export class BreakerLayer {
  readonly #breaker: CircuitBreaker<[Call], unknown>;
  readonly #options: BreakerLayerOptions;
  readonly #listeners = new Set<(state: BreakerState) => void>();
  #consecutive = 0;
  #opens = 0;

  constructor(options: BreakerLayerOptions) {
    this.#options = options;
    this.#breaker = new CircuitBreaker<[Call], unknown>((call: Call) => call(), {
      name: options.target,
      timeout: false, // deadlines are enforced per call by the layers below
      errorThresholdPercentage: options.errorThresholdPercentage,
      rollingCountTimeout: options.rollingWindowMs,
      rollingCountBuckets: 10,
      volumeThreshold: options.volumeThreshold,
      resetTimeout: options.resetTimeoutMs,
      allowWarmUp: false,
      // A batch every caller abandoned did time out: that counts, unless this process
      // was the slow one; refusals never do.
      errorFilter: (error: unknown) => error instanceof PolicyRejectedError || isLocalStall(error),
    });
    const { circuitState, circuitEvents } = options.metrics;
    const event = (name: string): void => {
      circuitEvents.inc({ target: options.target, event: name });
    };
    const changed = (state: BreakerState): void => {
      circuitState.set({ target: options.target }, STATE_VALUE[state]);
      for (const listener of this.#listeners) listener(state);
    };
    circuitState.set({ target: options.target }, 0);
    this.#breaker.on('open', () => {
      this.#opens++;
      event('open');
      changed('open');
    });
    this.#breaker.on('halfOpen', () => {
      event('half_open');
      changed('half-open');
    });
    this.#breaker.on('close', () => {
      this.#consecutive = 0;
      event('close');
      changed('closed');
    });
    this.#breaker.on('success', () => {
      this.#consecutive = 0;
      event('success');
    });
    this.#breaker.on('reject', () => event('reject'));
    this.#breaker.on('failure', () => {
      event('failure');
      this.#consecutive++;
      if (this.#consecutive >= options.consecutiveFailures && this.#breaker.closed) this.#breaker.open();
    });
  }

  get state(): BreakerState {
    if (this.#breaker.opened) return 'open';
    if (this.#breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  /** How many times the breaker opened. */
  get opens(): number {
    return this.#opens;
  }

  /**
   * True when a call made now would be refused: open, or half-open with its one probe
   * already taken. Checked before a request is queued, so nothing waits for a batch
   * that cannot be sent.
   */
  get refusing(): boolean {
    return this.#breaker.opened || (this.#breaker.halfOpen && !this.#breaker.pendingClose);
  }

  /** Runs one batch call through the breaker; refusal becomes a CircuitOpenError. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return (await this.#breaker.fire(call)) as T;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EOPENBREAKER') throw this.openError(error);
      throw error;
    }
  }

  openError(cause?: unknown): CircuitOpenError {
    return new CircuitOpenError(`circuit to ${this.#options.target} is ${this.state}`, { cause, context: { target: this.#options.target, state: this.state } });
  }

  /** Rejected fast without reaching opossum: counted like opossum's own rejections. */
  recordRejection(): void {
    this.#options.metrics.circuitEvents.inc({ target: this.#options.target, event: 'reject' });
  }

  onStateChange(listener: (state: BreakerState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops opossum's rolling-window and reset timers. */
  shutdown(): void {
    this.#breaker.shutdown();
    this.#listeners.clear();
  }
}
