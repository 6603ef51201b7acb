/**
 * Delay before retry number `attempt` (1 = the first retry): exponential growth from
 * `baseMs`, capped at `maxMs`, with "equal jitter" (half fixed, half random) so
 * consumers that failed together do not retry in lockstep, yet a retry never comes
 * sooner than half the nominal delay.
 *
 *   nominal = min(maxMs, baseMs · 2^(attempt − 1));  delay = nominal/2 + random·nominal/2
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
