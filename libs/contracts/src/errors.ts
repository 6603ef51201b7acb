import { z } from 'zod';

/** Every error body of every service: `{"error": {"code": "E_…", "message", "requestId"}}`. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().regex(/^E_[A-Z0-9_]+$/),
    message: z.string(),
    requestId: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * The stable error codes of the HTTP APIs. Clients may switch on these; messages are
 * for people and may change. The auth-service's 401s for a refused token carry its token
 * layer's codes as well (`E_TOKEN_EXPIRED`, `E_TOKEN_REVOKED`…:
 * apps/auth-service/src/tokens/errors.ts), and its OAuth routes RFC 6749's.
 */
export const ERROR_CODES = {
  malformedJson: 'E_MALFORMED_JSON',
  /** 400: the HTTP/1.1 parser refused the request itself (request line, headers, framing). */
  malformedRequest: 'E_MALFORMED_REQUEST',
  /** 431: the request line and headers (HTTP/1.1) are over the server's limit. */
  headersTooLarge: 'E_HEADERS_TOO_LARGE',
  /** 408: the headers, or the whole request, did not arrive in time (a slow client). */
  requestTimeout: 'E_REQUEST_TIMEOUT',
  validation: 'E_VALIDATION',
  payloadTooLarge: 'E_PAYLOAD_TOO_LARGE',
  unsupportedMediaType: 'E_UNSUPPORTED_MEDIA_TYPE',
  notFound: 'E_NOT_FOUND',
  methodNotAllowed: 'E_METHOD_NOT_ALLOWED',
  unauthorized: 'E_UNAUTHORIZED',
  /** 429: too many wrong client secrets for this client id lately (Retry-After says how long). */
  tooManyAttempts: 'E_TOO_MANY_ATTEMPTS',
  adminDisabled: 'E_ADMIN_DISABLED',
  batchTooLarge: 'E_BATCH_TOO_LARGE',
  requestRejected: 'E_REQUEST_REJECTED',
  policyInvalid: 'E_POLICY_INVALID',
  /** 409: `PUT /policies` would flip more recorded decisions than its `expectedImpact` allows. */
  impactExceeded: 'E_IMPACT_EXCEEDED',
  noPolicies: 'E_NO_POLICIES',
  /** 503: `PUT /policies` could not store the set where every replica loads it; nothing changed. */
  policyStoreUnavailable: 'E_POLICY_STORE_UNAVAILABLE',
  /** 503: the audit record (Redis) behind `GET /audit/principals` and impact replays could not be read in time. */
  auditUnavailable: 'E_AUDIT_UNAVAILABLE',
  decisionUnavailable: 'E_DECISION_UNAVAILABLE',
  internal: 'E_INTERNAL',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * The base of every library's typed errors (cache, bus, service client, tokens): a
 * stable `code` read from the subclass's static `code`, the underlying `cause`, and
 * `context` (key, topic, option) so a log line says what failed. Callers branch on
 * `code` or `instanceof`, never on message text.
 */
export class PortcullisError extends Error {
  static readonly code: string = 'E_PORTCULLIS';
  readonly code: string;
  readonly context: Record<string, unknown>;

  /** `options.code` is for errors whose code varies per instance (an HTTP answer's). */
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown>; code?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? (new.target as typeof PortcullisError).code;
    this.context = options.context ?? {};
  }
}
