export { backoffDelay, FailureRun, retryUntilDone, type BackoffOptions, type RetryUntilDoneOptions } from './backoff.ts';
export { CircuitBreaker, BREAKER_STATE_VALUE, type BreakerEvent, type BreakerState, type CircuitBreakerOptions } from './breaker.ts';
export { ConsecutiveFailures, FailureRate, type BreakerRule, type FailureKind, type FailureRateOptions } from './rules.ts';
export { observeBreaker } from './metrics.ts';
export { LOCAL_STALL_UTILIZATION, watchForStall } from './stall.ts';
export { DeadlineError, withDeadline } from './deadline.ts';
export { AdaptiveLimit, type AdaptiveLimitOptions } from './adaptive-limit.ts';
