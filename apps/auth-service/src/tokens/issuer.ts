import { createPrivateKey, createPublicKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { ClientRegistry } from './clients.ts';
import { ClientAuthError } from './errors.ts';

/** The key tokens are signed with: an HMAC secret, or a private key published under `kid`. */
export type SigningKey =
  { alg: 'HS256'; secret: string | KeyObject; kid?: string } | { alg: 'RS256' | 'ES256'; privateKey: string | KeyObject; kid: string };

/** Options of {@link createTokenIssuer}. */
export interface TokenIssuerOptions {
  /** The `iss` of issued tokens (the verifier's `issuer`). */
  issuer: string;
  /** The `aud` of issued tokens (the verifier's `audience`). */
  audience: string;
  /** Lifetime of an access token, seconds (default 900, at most one day). */
  ttlSec?: number;
  signingKey: SigningKey;
  clients: ClientRegistry;
  /** The clock, in ms since the epoch. */
  now?: () => number;
}

/** RFC 6749 §5.1 successful response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** A JWK Set of public keys, for `GET /.well-known/jwks.json`. */
export interface JwkSet {
  keys: Array<Record<string, unknown>>;
}

/** Issues client-credentials tokens (RFC 6749 §4.4). */
export interface TokenIssuer {
  /**
   * Authenticates the client and signs a token; wrong credentials throw `ClientAuthError`.
   * `source` is where the attempt came from (the client's address): wrong secrets lock out
   * the id from that source only (see {@link ClientRegistry.authenticate}).
   */
  issue(request: { clientId: unknown; clientSecret: unknown; source?: string | undefined }): Promise<TokenResponse>;
  /** The public signing key as a JWK Set; empty with an HMAC key (a secret is never published). */
  jwks(): JwkSet;
  /** The public key as PEM keyed by kid, to configure a verifier's `publicKeys`; empty with HMAC. */
  publicKeys(): Record<string, string>;
}

interface Resolved {
  alg: 'HS256' | 'RS256' | 'ES256';
  key: KeyObject;
  kid: string | undefined;
  publicKey: KeyObject | undefined;
}

function resolveKey(signing: SigningKey): Resolved {
  if (signing.alg === 'HS256') {
    const key = typeof signing.secret === 'string' ? createSecretKey(Buffer.from(signing.secret, 'utf8')) : signing.secret;
    if (key.type !== 'secret' || (key.symmetricKeySize ?? 0) < 32) {
      throw new RangeError('signingKey.secret must be a secret of at least 32 bytes');
    }
    return { alg: 'HS256', key, kid: signing.kid, publicKey: undefined };
  }
  if (signing.alg !== 'RS256' && signing.alg !== 'ES256') {
    throw new RangeError(`signingKey.alg must be HS256, RS256 or ES256, received ${JSON.stringify((signing as { alg: unknown }).alg)}`);
  }
  if (typeof signing.kid !== 'string' || signing.kid === '') throw new RangeError('signingKey.kid is required with an asymmetric key');
  let key: KeyObject;
  try {
    key = typeof signing.privateKey === 'string' ? createPrivateKey(signing.privateKey) : signing.privateKey;
  } catch (cause) {
    throw new RangeError('signingKey.privateKey is not a private key', { cause });
  }
  const fits =
    signing.alg === 'RS256'
      ? key.type === 'private' && key.asymmetricKeyType === 'rsa'
      : key.type === 'private' && key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!fits) throw new RangeError(`signingKey.privateKey does not fit ${signing.alg}`);
  return { alg: signing.alg, key, kid: signing.kid, publicKey: createPublicKey(key) };
}

/**
 * Builds the token issuer. The signing key is imported once as a KeyObject; tokens carry iss,
 * aud, sub (the client id), iat, exp, a random jti (so they can be revoked) and the client's
 * registered roles and groups.
 */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  if (typeof options.issuer !== 'string' || options.issuer === '') throw new RangeError('issuer must be a non-empty string');
  if (typeof options.audience !== 'string' || options.audience === '') throw new RangeError('audience must be a non-empty string');
  const ttlSec = options.ttlSec ?? 900;
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > 86_400)
    throw new RangeError(`ttlSec must be an integer in 1..86400, received ${String(ttlSec)}`);
  const signing = resolveKey(options.signingKey);
  const now = options.now ?? Date.now;
  const jwk =
    signing.publicKey === undefined
      ? undefined
      : { ...(signing.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: signing.kid, alg: signing.alg, use: 'sig' };

  return {
    async issue({ clientId, clientSecret, source }) {
      const client = await options.clients.authenticate(clientId, clientSecret, source).catch((error: unknown) => {
        throw error instanceof ClientAuthError ? error : new ClientAuthError();
      });
      const iat = Math.floor(now() / 1000);
      const payload: Record<string, unknown> = {
        iss: options.issuer,
        aud: options.audience,
        sub: client.clientId,
        iat,
        exp: iat + ttlSec,
        jti: randomUUID(),
        roles: client.roles,
      };
      if (client.groups.length > 0) payload['groups'] = client.groups;
      const signOptions: jwt.SignOptions = { algorithm: signing.alg };
      if (signing.kid !== undefined) signOptions.keyid = signing.kid;
      const accessToken = jwt.sign(payload, signing.key, signOptions);
      return { access_token: accessToken, token_type: 'Bearer', expires_in: ttlSec };
    },
    jwks() {
      return { keys: jwk === undefined ? [] : [{ ...jwk }] };
    },
    publicKeys() {
      if (signing.publicKey === undefined || signing.kid === undefined) return {};
      return { [signing.kid]: signing.publicKey.export({ format: 'pem', type: 'spki' }).toString() };
    },
  };
}
