import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  TokenAlgorithmError,
  TokenClaimsError,
  TokenExpiredError,
  TokenForbiddenHeaderError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
  TokenSignatureError,
  TokenTooLargeError,
  TokenUnknownKeyError,
  type TokenError,
} from './errors.ts';
import { keyFitsAlgorithm, type Algorithm } from './keys.ts';
import { VerifiedTokenMemo } from './verified-memo.ts';
import { resolveVerifierOptions, type ResolvedVerifierOptions, type VerifierOptions } from './verifier-options.ts';

/** What a valid token tells the auth-service about its principal. */
export interface VerifiedToken {
  sub: string;
  roles: string[];
  groups: string[];
  jti?: string;
  exp: number;
  /** Every claim of the payload, as verified. */
  claims: Record<string, unknown>;
}

/** Verifies bearer tokens; every refusal is a {@link TokenError} with a stable code. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

/** Headers that tell a verifier where to get a key: following them lets the token pick its key. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_LIST = 64;
const MAX_ENTRY = 128;
const MAX_ID = 256;

/**
 * Builds a verifier. Options are validated and keys imported as KeyObjects once, here (a
 * string secret costs ~330 µs a verification against ~7 µs for a KeyObject). Throws a
 * `RangeError` naming the option on a bad configuration.
 */
export function createVerifier(options: VerifierOptions): TokenVerifier {
  const o = resolveVerifierOptions(options);
  const memo =
    o.memoEntries > 0
      ? new VerifiedTokenMemo({ maxEntries: o.memoEntries, maxAgeMs: o.memoMaxAgeMs, clockToleranceSec: o.clockToleranceSec, now: o.now })
      : undefined;
  return {
    async verify(token: string) {
      const known = typeof token === 'string' && token.length <= o.maxTokenBytes ? memo?.get(token) : undefined;
      const verified = known ?? (await verify(o, token));
      // Revocation is never remembered: checked on every request, memoized token or not.
      if (verified.jti !== undefined && o.revocations?.isRevoked(verified.jti) === true) {
        throw new TokenRevokedError('the token was revoked');
      }
      if (known === undefined) memo?.remember(token, verified);
      return verified;
    },
  };
}

/** Every check but revocation: size, shape, header, algorithm, key, signature, times, claims. */
async function verify(o: ResolvedVerifierOptions, token: string): Promise<VerifiedToken> {
  // Size first: nothing of an oversized token is decoded, whatever it holds.
  if (typeof token !== 'string') throw new TokenMalformedError('the token is not a string');
  if (token.length > o.maxTokenBytes) {
    throw new TokenTooLargeError(`the token is over ${o.maxTokenBytes} bytes`, { context: { bytes: token.length } });
  }
  if (!COMPACT_JWS.test(token)) {
    // `header.payload.` (signature stripped) is well-formed but unsigned: a signature failure.
    if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.?$/.test(token)) throw new TokenSignatureError('the token carries no signature');
    throw new TokenMalformedError('the token is not a compact JWS');
  }
  const dot = token.indexOf('.');
  if (token.endsWith('.')) throw new TokenSignatureError('the token carries no signature');
  const header = decodeHeader(token.slice(0, dot));
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) throw new TokenForbiddenHeaderError(`the token's header carries "${name}"`, { context: { header: name } });
  }
  const alg = header['alg'];
  if (typeof alg !== 'string' || !o.algorithms.includes(alg as Algorithm)) {
    throw new TokenAlgorithmError("the token's algorithm is not accepted", { context: { alg: String(alg).slice(0, 16) } });
  }
  const kid = header['kid'];
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > MAX_ID))
    throw new TokenMalformedError("the token's kid is not a string");
  const keys = await keysFor(o, alg as Algorithm, kid);
  const payload = verifySignatureAndTimes(o, token, alg as Algorithm, keys);
  return readClaims(payload);
}

function decodeHeader(part: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new TokenMalformedError("the token's header is not JSON", { cause });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new TokenMalformedError("the token's header is not a JSON object");
  }
  return header as Record<string, unknown>;
}

/** The candidate keys for this token, each already checked to fit `alg`. */
async function keysFor(o: ResolvedVerifierOptions, alg: Algorithm, kid: string | undefined): Promise<KeyObject[]> {
  const source = o.source;
  if (source.kind === 'static') {
    const fitting = source.keys.filter((k) => keyFitsAlgorithm(k, alg));
    if (fitting.length === 0) throw new TokenAlgorithmError("no configured key fits the token's algorithm", { context: { alg } });
    return fitting;
  }
  if (kid === undefined) throw new TokenUnknownKeyError('the token names no kid');
  let key: KeyObject;
  if (source.kind === 'keyed') {
    const found = source.keys.get(kid);
    if (found === undefined) throw new TokenUnknownKeyError("no key for the token's kid", { context: { kid: kid.slice(0, 64) } });
    key = found;
  } else {
    const resolved = await source.jwks.resolve(kid);
    // A JWK that names its algorithm may only be used with that one (RFC 7517 §4.4).
    if (resolved.alg !== undefined && resolved.alg !== alg) {
      throw new TokenAlgorithmError('the key is published for another algorithm', { context: { alg, kid: kid.slice(0, 64) } });
    }
    key = resolved.key;
  }
  if (!keyFitsAlgorithm(key, alg)) throw new TokenAlgorithmError("the key's type does not fit the token's algorithm", { context: { alg } });
  return [key];
}

function verifySignatureAndTimes(o: ResolvedVerifierOptions, token: string, alg: Algorithm, keys: KeyObject[]): unknown {
  let last: TokenError | undefined;
  for (const key of keys) {
    try {
      return jwt.verify(token, key, {
        algorithms: [alg],
        issuer: o.issuer,
        audience: o.audience,
        clockTolerance: o.clockToleranceSec,
        clockTimestamp: Math.floor(o.now() / 1000),
      });
    } catch (error) {
      last = mapJwtError(error);
      // Only a signature mismatch means "maybe another key": anything else was checked after
      // the signature held, so it is the answer.
      if (!(last instanceof TokenSignatureError)) throw last;
    }
  }
  throw last ?? new TokenSignatureError("the token's signature does not verify");
}

/**
 * jsonwebtoken's errors to ours. Its messages name expected values, never the token; we
 * still write our own so no library change can leak one into a log.
 */
function mapJwtError(error: unknown): TokenError {
  const options = { cause: error };
  if (error instanceof jwt.TokenExpiredError)
    return new TokenExpiredError('the token has expired', { ...options, context: { expiredAt: error.expiredAt.toISOString() } });
  if (error instanceof jwt.NotBeforeError) return new TokenNotYetValidError('the token is not valid yet', options);
  const message = error instanceof Error ? error.message : '';
  if (message === 'invalid signature' || message === 'jwt signature is required')
    return new TokenSignatureError("the token's signature does not verify", options);
  if (message.startsWith('jwt issuer invalid'))
    return new TokenClaimsError("the token's issuer is not accepted", { ...options, context: { claim: 'iss' } });
  if (message.startsWith('jwt audience invalid'))
    return new TokenClaimsError("the token's audience is not accepted", { ...options, context: { claim: 'aud' } });
  if (message === 'invalid exp value' || message === 'invalid nbf value' || message === 'iat required when maxAge is specified') {
    return new TokenClaimsError("the token's time claims are ill-formed", options);
  }
  if (message === 'invalid algorithm' || message.includes('must be a') || message.includes('key type')) {
    return new TokenAlgorithmError("the token's algorithm does not fit the key", options);
  }
  return new TokenMalformedError('the token could not be decoded', options);
}

function boundedStrings(claims: Record<string, unknown>, name: 'roles' | 'groups'): string[] {
  const value = claims[name];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_LIST || !value.every((v) => isText(v) && v.length <= MAX_ENTRY)) {
    throw new TokenClaimsError(`the token's ${name} claim must be at most ${MAX_LIST} strings of at most ${MAX_ENTRY} characters`, {
      context: { claim: name },
    });
  }
  return [...(value as string[])];
}

/**
 * A non-empty string that is well-formed Unicode. A lone surrogate (JSON allows the
 * escape) would reach the policy-service, which refuses such text: a claim holding one
 * must fail this token alone, not the batch its decision would travel in.
 */
const isText = (value: unknown): value is string => typeof value === 'string' && value !== '' && value.isWellFormed();

function readClaims(payload: unknown): VerifiedToken {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new TokenMalformedError("the token's payload is not a JSON object");
  }
  const claims = payload as Record<string, unknown>;
  const { sub, exp, jti } = claims;
  if (!isText(sub) || sub.length > MAX_ID) throw new TokenClaimsError('the token has no valid sub claim', { context: { claim: 'sub' } });
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new TokenClaimsError('the token has no exp claim', { context: { claim: 'exp' } });
  if (jti !== undefined && (!isText(jti) || jti.length > MAX_ID)) {
    throw new TokenClaimsError("the token's jti claim is ill-formed", { context: { claim: 'jti' } });
  }
  // Frozen: a memoized token is shared by every request that presents it.
  const verified: VerifiedToken = Object.freeze({
    sub,
    roles: Object.freeze(boundedStrings(claims, 'roles')) as string[],
    groups: Object.freeze(boundedStrings(claims, 'groups')) as string[],
    exp,
    claims: Object.freeze(claims),
    ...(jti === undefined ? {} : { jti }),
  });
  return verified;
}
