import { setTimeout as sleep } from 'node:timers/promises';

/** How {@link backoffDelay} grows. */
export interface BackoffOptions {
  /** The nominal delay of the first retry (ms). */
  baseMs: number;
  /** The nominal delay never grows past this (ms). Default: no cap. */
  maxMs?: number;
}

/**
 * Delay before retry number `retry` (0 = the first retry): exponential growth from
 * `baseMs`, capped at `maxMs`, with "equal jitter" (half fixed, half random), so callers
 * that failed together do not retry in lockstep, yet a retry never comes sooner than
 * half the nominal delay.
 *
 *   nominal = min(maxMs, baseMs · 2^retry);  delay = nominal/2 + random·nominal/2
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const nominal = Math.min(options.maxMs ?? Number.POSITIVE_INFINITY, options.baseMs * 2 ** Math.max(0, retry));
  return nominal / 2 + random() * (nominal / 2);
}

/** Options of {@link retryUntilDone}. */
export interface RetryUntilDoneOptions extends BackoffOptions {
  /** Stops the retries (and the wait between two) when aborted. */
  signal: AbortSignal;
  /** Told of each failure and of the wait before the next attempt (to log it). */
  onFailure(error: unknown, retryInMs: number): void;
}

/**
 * Calls `attempt` until it resolves, waiting {@link backoffDelay} between failures, for
 * work that must be done eventually and has no deadline (loading state before ready,
 * announcing a change). Resolves true once an attempt succeeded, false if `signal`
 * stopped it first.
 */
export async function retryUntilDone(attempt: () => Promise<unknown>, options: RetryUntilDoneOptions): Promise<boolean> {
  for (let retry = 0; !options.signal.aborted; retry += 1) {
    try {
      await attempt();
      return true;
    } catch (error) {
      const retryInMs = Math.round(backoffDelay(retry, options));
      options.onFailure(error, retryInMs);
      await sleep(retryInMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
  return false;
}

/**
 * A run of consecutive failures of work that is tried again and again (a read loop, a
 * publisher): how long to wait before the next try ({@link backoffDelay}), and whether a
 * failure is worth a log line. The 1st, 2nd, 4th, 8th… are, so an outage of an hour
 * logs about a dozen lines, not one per retry.
 */
export class FailureRun {
  readonly #options: BackoffOptions;
  /** Failures since the last success. */
  count = 0;
  /** The wait the last failure asked for (ms); 0 once a success ended the run. */
  retryInMs = 0;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /** Counts a failure: the wait before the next try (ms), and whether to log this one. */
  fail(): { retryInMs: number; log: boolean } {
    this.count += 1;
    this.retryInMs = Math.round(backoffDelay(this.count - 1, this.#options));
    return { retryInMs: this.retryInMs, log: (this.count & (this.count - 1)) === 0 };
  }

  /** Ends the run; returns how many failures it had (0: there was none to report). */
  succeed(): number {
    const ended = this.count;
    this.count = 0;
    this.retryInMs = 0;
    return ended;
  }
}
