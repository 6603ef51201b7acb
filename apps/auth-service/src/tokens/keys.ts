import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';

/** Algorithms this layer can pin. `none` is deliberately absent. */
export const SUPPORTED_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** The curve an ECDSA algorithm requires (RFC 7518 §3.4): P-256 for ES256, and so on. */
const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

export function isSupportedAlgorithm(alg: unknown): alg is Algorithm {
  return typeof alg === 'string' && (SUPPORTED_ALGORITHMS as readonly string[]).includes(alg);
}

/**
 * Whether `key` may verify `alg`. This is what defeats algorithm confusion: an RSA public key
 * is never usable as an HMAC secret, a secret never as a public key, a P-384 key never for
 * ES256. jsonwebtoken checks part of this too; we check all of it ourselves so the guarantee
 * does not hang on a library default.
 */
export function keyFitsAlgorithm(key: KeyObject, alg: Algorithm): boolean {
  const family = alg.slice(0, 2);
  if (family === 'HS') return key.type === 'secret';
  if (key.type !== 'public') return false;
  if (family === 'RS') return key.asymmetricKeyType === 'rsa';
  if (family === 'PS') return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === EC_CURVES[alg];
}

/** One imported verification key; `alg` is the JWK's own `alg` when it named one. */
export interface ResolvedKey {
  key: KeyObject;
  alg?: string;
}

/** Imports an HMAC secret once; short secrets are refused (RFC 7518 §3.2: ≥ the hash size). */
export function importSecret(secret: string): KeyObject {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < 32) throw new RangeError(`hs256Secret must be at least 32 bytes, received ${bytes}`);
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/** Imports a PEM public key (or certificate) once; `name` only labels the error. */
export function importPem(pem: string, name: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    return key;
  } catch (cause) {
    throw new RangeError(`publicKeys[${name}] is not a PEM public key`, { cause });
  }
}

/**
 * Imports the usable keys of a JWKS document: signature keys with a `kid`, public parts only.
 * Keys that do not import (unknown kty, bad curve) are skipped rather than failing the whole
 * set, so one odd key published by the IdP cannot take every other key down with it.
 */
export function importJwks(doc: unknown): Map<string, ResolvedKey> {
  const keys = new Map<string, ResolvedKey>();
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new TypeError('JWKS document has no keys array');
  for (const jwk of list.slice(0, 100)) {
    if (jwk === null || typeof jwk !== 'object') continue;
    const { kid, use, alg, kty } = jwk as Record<string, unknown>;
    if (typeof kid !== 'string' || kid === '' || kid.length > 256) continue;
    if (use !== undefined && use !== 'sig') continue;
    // An `oct` key in a public JWKS would be a secret published to the world: never use it.
    if (kty !== 'RSA' && kty !== 'EC') continue;
    try {
      // Strip private members so a mistakenly published private JWK imports as public only.
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk as Record<string, unknown>;
      const key = createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
      keys.set(kid, typeof alg === 'string' ? { key, alg } : { key });
    } catch {
      continue;
    }
  }
  return keys;
}
