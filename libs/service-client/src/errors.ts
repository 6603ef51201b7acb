import { PortcullisError } from '@portcullis/contracts';

/**
 * Every error a {@link PolicyClient} rejects with, each with a stable `code`. Callers
 * branch on `code` (or `instanceof`), never on message text. The auth-service maps
 * `E_POLICY_REJECTED` to a bad request of its own and every other one (unavailable, circuit
 * open, deadline exceeded, busy, and any added later) to "no decision" (stale cache or 503).
 */
export class PolicyClientError extends PortcullisError {
  static override readonly code: string = 'E_POLICY_CLIENT';
}

/**
 * The policy-service could not give an answer: connect failure, reset, GOAWAY, 5xx, or
 * an answer that is not a valid batch response (non-JSON, wrong result count, too big),
 * after the retries the deadline allowed. `context.retryable` tells the retry layer
 * whether another attempt may help.
 */
export class PolicyUnavailableError extends PolicyClientError {
  static override readonly code = 'E_POLICY_UNAVAILABLE';
}

/** The breaker is open (or its one half-open probe is in flight): failed fast, nothing was sent. */
export class CircuitOpenError extends PolicyClientError {
  static override readonly code = 'E_CIRCUIT_OPEN';
}

/** The call's deadline (`timeoutMs`) passed before an answer arrived. */
export class DeadlineExceededError extends PolicyClientError {
  static override readonly code = 'E_DEADLINE_EXCEEDED';
}

/**
 * Refused before it was sent: as many items as the adaptive limit allows are on the wire
 * and a batch's worth already waits (see `maxInFlight`). The service is busy, not broken:
 * never retried here and never counted against the breaker; a caller may retry after a
 * moment or answer from a stale decision.
 */
export class PolicyBusyError extends PolicyClientError {
  static override readonly code = 'E_POLICY_BUSY';
}

/**
 * The policy-service refused the request itself: a 4xx for the whole batch, or an
 * `{error: {code, message}}` in this item's slot (`context.itemCode`, `context.itemMessage`).
 * Never retried and never counted against the breaker: sending it again cannot help.
 */
export class PolicyRejectedError extends PolicyClientError {
  static override readonly code = 'E_POLICY_REJECTED';
}

/** True when another attempt may succeed (reset, GOAWAY, 502/503/504/429, attempt timeout). */
export function isRetryable(error: unknown): boolean {
  return error instanceof PolicyClientError && error.context['retryable'] === true;
}

/**
 * True for a timeout this process caused: it was too busy during the attempt to send the
 * request or read the answer (`context.local`). It says nothing about the service's
 * health, so the breaker does not count it.
 */
export function isLocalStall(error: unknown): boolean {
  return error instanceof DeadlineExceededError && error.context['local'] === true;
}
