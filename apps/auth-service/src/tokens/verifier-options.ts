import { optionError, optionInt, optionNumber } from '@portcullis/contracts';
import type { KeyObject } from 'node:crypto';
import { importPem, importSecret, isSupportedAlgorithm, keyFitsAlgorithm, type Algorithm } from './keys.ts';
import { JwksKeySource } from './jwks.ts';

/** Anything that can say whether a `jti` was revoked; a {@link RevocationList} fits. */
export interface RevocationCheck {
  isRevoked(jti: string): boolean;
}

/**
 * Options of {@link createVerifier}. Exactly one key source: `hs256Secret`, `publicKeys` or
 * `jwksUrl`. `issuer` and `audience` are required: a verifier that accepts any issuer's or any
 * audience's tokens is a misconfiguration, not a default.
 */
export interface VerifierOptions {
  /** Pinned algorithms; the token's `alg` must be one of them. Never `none`. */
  algorithms: readonly string[];
  /** Expected `iss` (one of, when a list). */
  issuer: string | readonly string[];
  /** Expected `aud` (the token must name one of them). */
  audience: string | readonly string[];
  /** Leeway for `exp`/`nbf` against clock skew, seconds (default 5). */
  clockToleranceSec?: number;
  /** Longer tokens are refused before any parsing (default 8192). */
  maxTokenBytes?: number;
  /** An HMAC secret of at least 32 bytes. */
  hs256Secret?: string;
  /** PEM public keys: one, a list (tried in turn), or keyed by `kid` (the token must name one). */
  publicKeys?: string | readonly string[] | Readonly<Record<string, string>>;
  /** A JWKS document's URL, fetched with `fetch`. */
  jwksUrl?: string;
  /** Minimum time between JWKS fetches (default 30 s). */
  jwksCooldownMs?: number;
  /** Refetch the JWKS after this long even without an unknown kid (default 10 min). */
  jwksMaxAgeMs?: number;
  /** Timeout of one JWKS fetch (default 2 s). */
  jwksTimeoutMs?: number;
  /** When given, tokens whose `jti` it reports are refused with `E_TOKEN_REVOKED`. */
  revocations?: RevocationCheck;
  /** The clock, in ms since the epoch (tests pass a fake one). */
  now?: () => number;
  /** Verified tokens remembered (LRU) so a repeated token skips the signature check; 0 turns it off (default 10 000). */
  memoEntries?: number;
  /** Longest a verified token is remembered, within its own `exp` (default 60 s). */
  memoMaxAgeMs?: number;
  /** The fetch used for the JWKS (tests may wrap it). */
  fetch?: typeof globalThis.fetch;
}

/** Where keys come from once options are resolved. */
export type KeySource =
  { kind: 'static'; keys: KeyObject[] } | { kind: 'keyed'; keys: Map<string, KeyObject> } | { kind: 'jwks'; jwks: JwksKeySource };

/** Options with defaults applied, keys imported once as KeyObjects. */
export interface ResolvedVerifierOptions {
  algorithms: Algorithm[];
  issuer: string | [string, ...string[]];
  audience: string | [string, ...string[]];
  clockToleranceSec: number;
  maxTokenBytes: number;
  source: KeySource;
  revocations: RevocationCheck | undefined;
  now: () => number;
  memoEntries: number;
  memoMaxAgeMs: number;
}

/** A finite number ≥ 0; `undefined` takes the fallback. */
const nonNegative = (name: string, value: number | undefined, fallback: number): number => optionNumber(name, value, fallback, 0);

function stringOrList(name: string, value: string | readonly string[] | undefined): string | [string, ...string[]] {
  if (typeof value === 'string' && value !== '') return value;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v !== '')) {
    return [...value] as [string, ...string[]];
  }
  throw optionError(name, 'a non-empty string or list of strings', JSON.stringify(value));
}

/** Validates and defaults every option in one place; every message names the option. */
export function resolveVerifierOptions(options: VerifierOptions): ResolvedVerifierOptions {
  const algs = options.algorithms;
  if (!Array.isArray(algs) || algs.length === 0) throw optionError('algorithms', 'a non-empty list', JSON.stringify(algs));
  for (const alg of algs) {
    if (!isSupportedAlgorithm(alg)) throw optionError('algorithms', 'HS256, RS256 or ES256 each', alg);
  }
  const algorithms = [...new Set(algs as Algorithm[])];
  const sources = [options.hs256Secret, options.publicKeys, options.jwksUrl].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    throw optionError('hs256Secret/publicKeys/jwksUrl', 'exactly one given', `${sources.length} given`);
  }
  const now = options.now ?? Date.now;
  let source: KeySource;
  if (options.hs256Secret !== undefined) {
    source = { kind: 'static', keys: [importSecret(options.hs256Secret)] };
  } else if (options.publicKeys !== undefined) {
    const pk = options.publicKeys;
    if (typeof pk === 'string') source = { kind: 'static', keys: [importPem(pk, '0')] };
    else if (Array.isArray(pk)) source = { kind: 'static', keys: pk.map((p: string, i) => importPem(p, String(i))) };
    else source = { kind: 'keyed', keys: new Map(Object.entries(pk).map(([kid, p]) => [kid, importPem(p, kid)])) };
    const keys = source.kind === 'static' ? source.keys : [...source.keys.values()];
    if (keys.length === 0) throw optionError('publicKeys', 'at least one key', 'none');
  } else {
    let url: URL;
    try {
      url = new URL(String(options.jwksUrl));
    } catch {
      throw optionError('jwksUrl', 'an absolute URL', options.jwksUrl);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw optionError('jwksUrl', 'an http(s) URL', url.protocol);
    source = {
      kind: 'jwks',
      jwks: new JwksKeySource({
        url: url.href,
        cooldownMs: nonNegative('jwksCooldownMs', options.jwksCooldownMs, 30_000),
        maxAgeMs: nonNegative('jwksMaxAgeMs', options.jwksMaxAgeMs, 600_000),
        timeoutMs: nonNegative('jwksTimeoutMs', options.jwksTimeoutMs, 2_000),
        maxBytes: 65_536,
        now,
        fetch: options.fetch ?? globalThis.fetch,
      }),
    };
  }
  // A pinned algorithm that no configured key can ever verify is a configuration error
  // (e.g. HS256 pinned with an RSA key): refuse it at start rather than at every request.
  if (source.kind !== 'jwks') {
    const keys = source.kind === 'static' ? source.keys : [...source.keys.values()];
    for (const alg of algorithms) {
      if (!keys.some((k) => keyFitsAlgorithm(k, alg))) {
        throw optionError('algorithms', 'verifiable with the configured key type', alg);
      }
    }
  }
  const maxTokenBytes = nonNegative('maxTokenBytes', options.maxTokenBytes, 8192);
  if (maxTokenBytes < 64) throw optionError('maxTokenBytes', 'at least 64', maxTokenBytes);
  return {
    algorithms,
    issuer: stringOrList('issuer', options.issuer),
    audience: stringOrList('audience', options.audience),
    clockToleranceSec: nonNegative('clockToleranceSec', options.clockToleranceSec, 5),
    maxTokenBytes,
    source,
    revocations: options.revocations,
    now,
    memoEntries: optionInt('memoEntries', options.memoEntries, 10_000, 0, 10_000_000),
    memoMaxAgeMs: nonNegative('memoMaxAgeMs', options.memoMaxAgeMs, 60_000),
  };
}
