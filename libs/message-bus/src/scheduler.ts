import { PRIORITIES, type Priority } from './keys.ts';

/**
 * Default share of dispatch slots per priority when every priority has a backlog:
 * 16 : 8 : 4 : 2 : 1 — critical gets 16/31 of slots, background never less than 1/31.
 */
export const DEFAULT_WEIGHTS: Readonly<Record<Priority, number>> = { critical: 16, high: 8, normal: 4, low: 2, background: 1 };

/**
 * Smooth weighted round-robin (the nginx upstream algorithm) over the priorities that
 * have work. Each pick adds every candidate's weight to its credit, serves the one with
 * the most credit and charges it the total. Over any window of Σweights picks with all
 * priorities backlogged each priority is served exactly `weight` times, interleaved,
 * so higher priorities go first and the lowest is never starved. A priority with no
 * work takes no part, so an idle system serves whatever arrives immediately.
 */
export class PriorityScheduler {
  readonly #weights: Readonly<Record<Priority, number>>;
  readonly #credit: Record<Priority, number> = { critical: 0, high: 0, normal: 0, low: 0, background: 0 };

  constructor(weights: Readonly<Record<Priority, number>> = DEFAULT_WEIGHTS) {
    this.#weights = weights;
  }

  /** The priority to serve next among those for which `hasWork` is true, if any. */
  next(hasWork: (priority: Priority) => boolean): Priority | undefined {
    let best: Priority | undefined;
    let total = 0;
    for (const priority of PRIORITIES) {
      if (!hasWork(priority)) continue;
      const weight = this.#weights[priority];
      this.#credit[priority] += weight;
      total += weight;
      if (best === undefined || this.#credit[priority] > this.#credit[best]) best = priority;
    }
    if (best !== undefined) this.#credit[best] -= total;
    return best;
  }
}
