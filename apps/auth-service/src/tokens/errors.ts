import { ERROR_CODES, PortcullisError } from '@portcullis/contracts';

/**
 * Every error the token layer throws. Each class has a static stable `code` the routes map
 * to an answer (401 `invalid_token`, 401 `invalid_client`, 429 for a locked-out client), a
 * `cause` when there is one, and context (the kid, the claim, the option). Messages and
 * context NEVER carry the token or a secret: a log line must be safe to ship anywhere.
 */
export class TokenError extends PortcullisError {
  static override readonly code: string = 'E_TOKEN';
}

/** Not a compact JWS: wrong shape, bad base64url, header or payload not a JSON object. */
export class TokenMalformedError extends TokenError {
  static override readonly code = 'E_TOKEN_MALFORMED';
}

/** Longer than `maxTokenBytes`; refused before any parsing. */
export class TokenTooLargeError extends TokenError {
  static override readonly code = 'E_TOKEN_TOO_LARGE';
}

/** `alg` not pinned (including `none`), or the key's type does not fit the algorithm. */
export class TokenAlgorithmError extends TokenError {
  static override readonly code = 'E_TOKEN_ALGORITHM';
}

/** Signature missing (stripped) or not matching (tampered header or claims). */
export class TokenSignatureError extends TokenError {
  static override readonly code = 'E_TOKEN_SIGNATURE';
}

/** `exp` passed, beyond the clock tolerance. */
export class TokenExpiredError extends TokenError {
  static override readonly code = 'E_TOKEN_EXPIRED';
}

/** `nbf` still in the future, beyond the clock tolerance. */
export class TokenNotYetValidError extends TokenError {
  static override readonly code = 'E_TOKEN_NOT_YET_VALID';
}

/** Wrong `iss`/`aud`, missing `sub` or `exp`, or ill-formed `roles`/`groups`/`jti`. */
export class TokenClaimsError extends TokenError {
  static override readonly code = 'E_TOKEN_CLAIMS';
}

/**
 * No key for the token's `kid` (after at most one JWKS refetch), or no key could be had at
 * all (`context.reason === 'jwks_unavailable'`): a key-source failure refuses, never accepts.
 */
export class TokenUnknownKeyError extends TokenError {
  static override readonly code = 'E_TOKEN_UNKNOWN_KEY';
}

/** A header naming where to get keys (`jku`, `x5u`, `jwk`, `x5c`) or `crit` extensions. */
export class TokenForbiddenHeaderError extends TokenError {
  static override readonly code = 'E_TOKEN_FORBIDDEN_HEADER';
}

/** The token's `jti` is on the revocation list. */
export class TokenRevokedError extends TokenError {
  static override readonly code = 'E_TOKEN_REVOKED';
}

/**
 * The revocations taken before this process started are not loaded yet, so no token can
 * be told apart from a revoked one: every token is refused until they are (fail closed).
 */
export class RevocationsUnknownError extends TokenError {
  static override readonly code = 'E_REVOCATIONS_UNKNOWN';
}

/**
 * Client authentication refused before any check because too many are under way (see
 * `HashingGate`): nothing was learned about the credentials; the route answers 503 and
 * the client may retry. Not a `ClientAuthError`, and never counted as a wrong secret.
 */
export class ClientAuthBusyError extends PortcullisError {
  static override readonly code = 'E_CLIENT_AUTH_BUSY';
}

/** Client credentials that do not authenticate (RFC 6749 §5.2 `invalid_client`). */
export class ClientAuthError extends PortcullisError {
  static override readonly code: string = 'E_INVALID_CLIENT';
  constructor(message = 'client authentication failed', options: { context?: Record<string, unknown> } = {}) {
    super(message, options);
  }
}

/**
 * Too many wrong secrets for this client id: refused, even with the right secret, for
 * `retryAfterMs` more (the route answers 429 with `Retry-After`). A `ClientAuthError`, so
 * a caller that knows only that class still refuses. Context holds no client id: a
 * presented id may be a secret pasted in the wrong field.
 */
export class ClientLockedError extends ClientAuthError {
  static override readonly code = ERROR_CODES.tooManyAttempts;
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number) {
    super('too many failed client authentications; try again later', { context: { retryAfterMs } });
    this.retryAfterMs = retryAfterMs;
  }
}
