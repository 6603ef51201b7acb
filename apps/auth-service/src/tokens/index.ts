/**
 * The token layer of the auth-service: bearer-token verification, client-credentials issuance
 * and the revocation list. Routes map `TokenError` to 401 `invalid_token` (but
 * `RevocationsUnknownError` to 503: the token may be fine), `ClientLockedError`
 * to 429 with `Retry-After` and any other `ClientAuthError` to 401 `invalid_client`; none ever
 * carries a token or a secret.
 */
export { createVerifier, type TokenVerifier, type VerifiedToken } from './verifier.ts';
export type { RevocationCheck, VerifierOptions } from './verifier-options.ts';
export {
  createTokenIssuer,
  type JwkSet,
  type SigningKey,
  type TokenIssuer,
  type TokenIssuerOptions,
  type TokenResponse,
} from './issuer.ts';
export { ClientRegistry, hashClientSecret, lockoutKey, type ClientRecord, type ClientRegistration, type ScryptParams } from './clients.ts';
export { AttemptLimiter, type AttemptLimiterOptions } from './attempt-limiter.ts';
export { HashingGate } from './hashing-gate.ts';
export { RevocationList, type RevocationListOptions } from './revocation.ts';
export { loadRevocations, resyncRevocations, RevocationStore, REVOKED_TOKENS_KEY } from './revocation-store.ts';
export { SUPPORTED_ALGORITHMS, type Algorithm } from './keys.ts';
export * from './errors.ts';
