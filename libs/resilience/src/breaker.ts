import { optionError, optionInt } from '@portcullis/contracts';
import type { BreakerRule, FailureKind } from './rules.ts';

/** Breaker state, as `/health` and `portcullis_circuit_state` report it. */
export type BreakerState = 'closed' | 'half-open' | 'open';

/** `portcullis_circuit_state` values. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The one event vocabulary of `portcullis_circuit_events_total{event}`: verdicts on calls
 * (`success`, `failure`, `timeout`), calls refused (`reject`), and transitions.
 */
export type BreakerEvent = 'success' | 'failure' | 'timeout' | 'reject' | 'open' | 'half_open' | 'close';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** The circuit opens as soon as any rule says so. */
  rules: BreakerRule[];
  /**
   * Longest the circuit stays open before one trial call is let through (ms). The first
   * opening lasts `firstResetMs`; each failed trial doubles the period, up to this.
   */
  resetMs: number;
  /** Open period after the circuit opens from closed (ms). Default `resetMs` (a fixed period). */
  firstResetMs?: number;
  /** Clock (injectable so timing logic is tested with fake time). Default `Date.now`. */
  now?: () => number;
}

/**
 * A circuit breaker with pluggable rules, in cockatiel's shape. Closed, every verdict
 * goes to the rules; when one says so it opens. Open, calls are refused; after the open
 * period (a timer, so watchers see the transition without a call) it turns half-open and
 * lets one trial through: its success closes the circuit, its failure opens it again for
 * twice as long, up to `resetMs` (cockatiel's exponential `halfOpenAfter`): a short trip
 * costs a second, a long outage one trial per `resetMs`. Whoever knows the dependency is
 * back (a fresh connection answered) ends the wait with {@link probeNow}. A call
 * whose outcome says nothing about the dependency (a refusal of bad input, this
 * process's own stall) is `release()`d: no verdict, and a trial slot is freed.
 */
export class CircuitBreaker {
  readonly #rules: BreakerRule[];
  readonly #resetMs: number;
  readonly #firstResetMs: number;
  readonly #now: () => number;
  readonly #listeners = new Set<(event: BreakerEvent, state: BreakerState) => void>();
  #state: BreakerState = 'closed';
  #openedAt = 0;
  /** The current open period: `firstResetMs`, doubled per failed trial up to `resetMs`. */
  #openMs = 0;
  #trial = false;
  /** The current half-open state came from {@link probeNow}, not from the open period running out. */
  #probed = false;
  #opens = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: CircuitBreakerOptions) {
    if (!Array.isArray(options.rules) || options.rules.length === 0)
      throw optionError('rules', 'a list of at least one rule', options.rules?.length);
    this.#rules = options.rules;
    this.#resetMs = optionInt('resetMs', options.resetMs, 0, 1);
    this.#firstResetMs = optionInt('firstResetMs', options.firstResetMs, this.#resetMs, 1, this.#resetMs);
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** How many times the circuit opened. */
  get opens(): number {
    return this.#opens;
  }

  /** True when a call made now would be refused (no side effects: for checks before queueing work). */
  get refusing(): boolean {
    if (this.#state === 'open') return this.#now() - this.#openedAt < this.#openMs;
    return this.#state === 'half-open' && this.#trial;
  }

  /** Whether a call may go out now; the one trial of a half-open circuit is taken here. A refusal is counted (`reject`). */
  tryAcquire(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAt < this.#openMs) return this.#reject();
      this.#halfOpen();
    }
    if (this.#trial) return this.#reject();
    this.#trial = true;
    return true;
  }

  /** Counts a refusal made without {@link tryAcquire} (a caller that checked {@link refusing}). */
  recordRejection(): void {
    this.#reject();
  }

  success(): void {
    this.#emit('success');
    if (this.#state === 'half-open') {
      this.#set('closed', 'close');
      return;
    }
    // Open: a call that went out before the circuit opened says nothing now.
    if (this.#state !== 'closed') return;
    const now = this.#now();
    for (const rule of this.#rules) rule.success(now);
  }

  failure(kind: FailureKind = 'failure'): void {
    this.#emit(kind);
    const now = this.#now();
    if (this.#state === 'half-open') {
      this.#open(now);
      return;
    }
    if (this.#state !== 'closed') return;
    for (const rule of this.#rules) rule.failure(now, kind);
    if (this.#rules.some((rule) => rule.shouldOpen(now))) this.#open(now);
  }

  /**
   * The dependency is known to be back (say, a new connection to it answered): an open
   * circuit turns half-open now, so the next call is the trial, instead of waiting out
   * the open period. No effect when closed or already half-open.
   */
  probeNow(): void {
    if (this.#state !== 'open') return;
    this.#clearTimer();
    this.#probed = true;
    this.#halfOpen();
  }

  /** A call that ended without a verdict on the dependency: frees the half-open trial. */
  release(): void {
    if (this.#state === 'half-open') this.#trial = false;
  }

  /** Calls `listener` on every event; returns an unsubscribe function. */
  onEvent(listener: (event: BreakerEvent, state: BreakerState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Serializable state, for `/health` details. */
  toJSON(): { state: BreakerState; openedAt: number | null; openMs: number | null; opens: number } {
    const closed = this.#state === 'closed';
    return { state: this.#state, openedAt: closed ? null : this.#openedAt, openMs: closed ? null : this.#openMs, opens: this.#opens };
  }

  /** Stops the reset timer and drops the listeners. */
  shutdown(): void {
    this.#clearTimer();
    this.#listeners.clear();
  }

  #open(now: number): void {
    // From half-open the trial failed: the dependency is still away, wait twice as long.
    // Not when the trial followed probeNow: the dependency had just come back (a restarted
    // service warming up can fail its first call), so the wait starts over from the first
    // period; doubling there left a service that was back refused for the whole resetMs.
    this.#openMs = this.#state === 'half-open' && !this.#probed ? Math.min(this.#resetMs, this.#openMs * 2) : this.#firstResetMs;
    this.#probed = false;
    this.#trial = false;
    this.#openedAt = now;
    this.#opens += 1;
    this.#set('open', 'open');
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === 'open') this.#halfOpen();
    }, this.#openMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #halfOpen(): void {
    this.#trial = false;
    this.#set('half-open', 'half_open');
  }

  #reject(): false {
    this.#emit('reject');
    return false;
  }

  #set(state: BreakerState, event: BreakerEvent): void {
    this.#state = state;
    if (state === 'closed') {
      this.#trial = false;
      for (const rule of this.#rules) rule.reset();
      this.#clearTimer();
    }
    this.#emit(event);
  }

  #emit(event: BreakerEvent): void {
    for (const listener of this.#listeners) listener(event, this.#state);
  }
}
