import { backoffDelay } from '@portcullis/resilience';
import { DeadlineExceededError, isRetryable } from './errors.ts';

/** How {@link withRetries} runs one batch call. */
export interface RetryPlan {
  /** Extra attempts after a retryable failure. */
  retries: number;
  /** First backoff delay (ms); doubles per retry. */
  backoffBaseMs: number;
  /** Longest single attempt (ms) before the deadline cap. */
  attemptTimeoutMs: number;
  /** Absolute deadline, in `performance.now()` time. No attempt or wait runs past it. */
  deadline: number;
  /** Aborted when nobody waits for the answer any more. */
  signal: AbortSignal;
  /** Called before each retry (for stats). */
  onRetry?: (attempt: number, error: unknown) => void;
}

/**
 * The retry layer: runs `attempt(timeoutMs)` until it succeeds, fails with a
 * non-retryable error, runs out of retries, or would outlive the deadline. Every
 * attempt's time limit is capped by the time left, and a backoff that would end past the
 * deadline is not slept: the last error is thrown at once instead.
 */
export async function withRetries<T>(attempt: (timeoutMs: number) => Promise<T>, plan: RetryPlan): Promise<T> {
  for (let n = 0; ; n++) {
    const left = plan.deadline - performance.now();
    if (left <= 0) throw new DeadlineExceededError('deadline passed before the attempt', { context: { attempt: n } });
    try {
      return await attempt(Math.max(1, Math.min(plan.attemptTimeoutMs, Math.floor(left))));
    } catch (error) {
      if (!isRetryable(error) || n >= plan.retries || plan.signal.aborted) throw error;
      const delay = backoffDelay(n, { baseMs: plan.backoffBaseMs });
      // A retry that could only start after the deadline cannot help anyone.
      if (performance.now() + delay >= plan.deadline - 1) throw error;
      plan.onRetry?.(n + 1, error);
      if (delay > 0) await sleep(delay, plan.signal);
      if (plan.signal.aborted) throw error;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
