/** Options of {@link AdaptiveLimit}. */
export interface AdaptiveLimitOptions {
  /** The lowest the limit goes: enough work to keep the other side busy. */
  min: number;
  /** The highest the limit goes, and where it starts. */
  max: number;
  /** A piece of work that took longer than this (ms), or failed, says the other side is congested. */
  slowMs: number;
  /** What the limit is multiplied by on congestion. Default 0.9. */
  backoffRatio?: number;
}

/**
 * How much work may be outstanding at once, found by AIMD (additive increase,
 * multiplicative decrease; the `AIMDLimit` of Netflix's concurrency-limits): each piece
 * of work finished within `slowMs` raises the limit by one; each slow or failed one
 * multiplies it by `backoffRatio`. Only while at least half the limit is in use: below
 * that the limit held nothing back, so how the work went says nothing about it (a slow
 * batch at light load is a pause somewhere, not a queue this limit could shorten). Work is
 * counted in units (the items of a batch), so a slow batch lowers the limit once, not
 * once an item.
 *
 * Why: a server that is busy, not broken, answers later the more it is sent. Holding the
 * rest back here keeps its queue short enough for answers to come within their deadline,
 * and what cannot be held is refused at once by the caller, before it costs anyone work.
 */
export class AdaptiveLimit {
  readonly #min: number;
  readonly #max: number;
  readonly #slowMs: number;
  readonly #backoffRatio: number;
  #limit: number;
  #inFlight = 0;

  constructor(options: AdaptiveLimitOptions) {
    const { min, max, slowMs, backoffRatio = 0.9 } = options;
    if (!Number.isSafeInteger(min) || min < 1) throw new RangeError(`min must be a positive integer, received ${String(min)}`);
    if (!Number.isSafeInteger(max) || max < min) throw new RangeError(`max must be an integer ≥ min (${min}), received ${String(max)}`);
    if (!(slowMs > 0)) throw new RangeError(`slowMs must be positive, received ${String(slowMs)}`);
    if (!(backoffRatio > 0 && backoffRatio < 1)) throw new RangeError(`backoffRatio must be in (0, 1), received ${String(backoffRatio)}`);
    this.#min = min;
    this.#max = max;
    this.#slowMs = slowMs;
    this.#backoffRatio = backoffRatio;
    this.#limit = max;
  }

  /** The current limit, in units. */
  get limit(): number {
    return this.#limit;
  }

  /** Units outstanding now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Whether more work may start now (one unit of room is enough: a batch may go past the limit). */
  get open(): boolean {
    return this.#inFlight < this.#limit;
  }

  /** Counts `units` of work as started. */
  start(units: number): void {
    this.#inFlight += units;
  }

  /** Counts `units` of work as finished after `elapsedMs`, and adjusts the limit. */
  finish(units: number, elapsedMs: number, succeeded: boolean): void {
    // Measured before the release: was the limit being tested?
    const busy = this.#inFlight * 2 >= this.#limit;
    this.#inFlight = Math.max(0, this.#inFlight - units);
    if (!busy) return;
    if (!succeeded || elapsedMs > this.#slowMs) this.#limit = Math.max(this.#min, Math.floor(this.#limit * this.#backoffRatio));
    else this.#limit = Math.min(this.#max, this.#limit + 1);
  }
}
