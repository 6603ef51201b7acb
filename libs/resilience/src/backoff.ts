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
