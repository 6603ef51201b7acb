export { PolicyClient, type Decision, type EvaluateInput, type EvaluateOptions, type ClientStats } from './client.ts';
export type { PolicyClientOptions, BreakerOptions } from './options.ts';
export type { WarmUpOptions } from './warm-up.ts';
export type { BreakerState } from './breaker.ts';
export { canonicalJson } from './canonical.ts';
export {
  PolicyClientError,
  PolicyUnavailableError,
  CircuitOpenError,
  DeadlineExceededError,
  PolicyRejectedError,
  PolicyBusyError,
  isLocalStall,
} from './errors.ts';
