import { CacheError, L2CommandError, L2TimeoutError, L2UnavailableError } from './errors.ts';

/** Breaker state, as `portcullis_circuit_state` reports it: 0 closed, 1 half-open, 2 open. */
export type BreakerState = 'closed' | 'half-open' | 'open';

/** Events counted in `portcullis_circuit_events_total{event}`. */
export type BreakerEvent = 'failure' | 'timeout' | 'open' | 'half_open' | 'close' | 'short_circuit';

/** Options of {@link CircuitBreaker}. */
export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long it stays open before one trial call is let through. */
  resetMs: number;
  /** Clock (injectable so timing logic is tested with fake time). */
  now?: () => number;
  onEvent?: (event: BreakerEvent, state: BreakerState) => void;
}

/**
 * A consecutive-failure breaker (cockatiel's `ConsecutiveBreaker` shape): `threshold`
 * failures in a row open it; after `resetMs` one trial call is allowed (half-open); its
 * success closes the circuit, its failure opens it again for another `resetMs`.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #trialInFlight = false;
  readonly #options: BreakerOptions;
  readonly #now: () => number;

  constructor(options: BreakerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether a call may go out now; moves open to half-open once `resetMs` has passed. */
  tryAcquire(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAt < this.#options.resetMs) return this.#reject();
      this.#set('half-open', 'half_open');
    }
    if (this.#trialInFlight) return this.#reject();
    this.#trialInFlight = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    if (this.#state !== 'closed') {
      this.#trialInFlight = false;
      this.#set('closed', 'close');
    }
  }

  failure(event: 'failure' | 'timeout' = 'failure'): void {
    this.#options.onEvent?.(event, this.#state);
    this.#failures += 1;
    if (this.#state === 'half-open' || this.#failures >= this.#options.threshold) {
      this.#trialInFlight = false;
      this.#openedAt = this.#now();
      if (this.#state !== 'open') this.#set('open', 'open');
    }
  }

  /** Serializable state, for `/health` details. */
  toJSON(): { state: BreakerState; failures: number; openedAt: number | null } {
    return { state: this.#state, failures: this.#failures, openedAt: this.#state === 'closed' ? null : this.#openedAt };
  }

  #reject(): false {
    this.#options.onEvent?.('short_circuit', this.#state);
    return false;
  }

  #set(state: BreakerState, event: BreakerEvent): void {
    this.#state = state;
    this.#options.onEvent?.(event, state);
  }
}

/**
 * The one path every L2 call takes: the breaker decides whether it goes out, a timeout
 * bounds it, and any failure becomes a typed L2 error. Callers catch those and degrade;
 * nothing here throws anything else.
 */
export class L2Guard {
  readonly breaker: CircuitBreaker;
  readonly #timeoutMs: number;
  calls = 0;
  failures = 0;
  timeouts = 0;
  shortCircuits = 0;

  constructor(breaker: CircuitBreaker, timeoutMs: number) {
    this.breaker = breaker;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs one L2 call; `timeoutMs` overrides the default for slow maintenance (SCAN). */
  async run<T>(operation: string, call: () => Promise<T>, timeoutMs = this.#timeoutMs): Promise<T> {
    if (!this.breaker.tryAcquire()) {
      this.shortCircuits += 1;
      throw new L2UnavailableError('L2 breaker is open', { context: { operation } });
    }
    this.calls += 1;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new L2TimeoutError(`L2 ${operation} took longer than ${timeoutMs} ms`, { context: { operation, timeoutMs } })), timeoutMs);
    });
    try {
      const result = await Promise.race([call(), timeout]);
      this.breaker.success();
      return result;
    } catch (error) {
      this.failures += 1;
      if (error instanceof L2TimeoutError) {
        this.timeouts += 1;
        this.breaker.failure('timeout');
        throw error;
      }
      this.breaker.failure('failure');
      if (error instanceof CacheError) throw error;
      throw new L2CommandError(`L2 ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error, context: { operation } });
    } finally {
      clearTimeout(timer);
    }
  }
}
