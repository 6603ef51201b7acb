import type { IncomingHttpHeaders } from 'node:http';
import {
  ERROR_CODES,
  IntrospectRequest,
  IntrospectResponse,
  RevokeRequest,
  TOPICS,
  TokenRequest,
  TokenResponse,
  type TokenRevokedEvent,
} from '@portcullis/contracts';
import {
  authorizationCredentials,
  clientAddress,
  defineRoute,
  HttpError,
  notFound,
  type Route,
  type TrustProxy,
} from '@portcullis/http-kit';
import type { MessageBus } from '@portcullis/message-bus';
import type { Cache } from '@portcullis/cache';
import { isNotReplicated } from '@portcullis/redis';
import { principalTag } from '../decisions.ts';
import {
  ClientAuthBusyError,
  ClientLockedError,
  RevocationsUnknownError,
  type ClientRegistry,
  type RevocationList,
  type RevocationStore,
  type TokenIssuer,
  type TokenVerifier,
} from '../tokens/index.ts';

/** An RFC 6749 §5.2 error (these routes answer in that format). */
const oauthError = (status: number, error: string, description: string, headers: Record<string, string> = {}): HttpError =>
  new HttpError(status, `E_OAUTH_${error.toUpperCase()}`, description, { oauthError: error, headers });
/** 503 `temporarily_unavailable`: nothing was done, the client may retry (RFC 7009 §2.2.1). */
const unavailable = (description: string): HttpError => oauthError(503, 'temporarily_unavailable', description, { 'retry-after': '1' });

const INVALID_CLIENT = (): HttpError =>
  oauthError(401, 'invalid_client', 'client authentication failed', { 'www-authenticate': 'Basic realm="portcullis"' });
/**
 * 429 for a client id locked out after too many wrong secrets; 503 while too many client
 * authentications are under way (nothing was checked); anything else is `invalid_client`.
 */
const refusal = (error: unknown): HttpError => {
  if (error instanceof ClientLockedError) {
    return new HttpError(429, ERROR_CODES.tooManyAttempts, error.message, {
      oauthError: ERROR_CODES.tooManyAttempts,
      headers: { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))) },
    });
  }
  return error instanceof ClientAuthBusyError ? unavailable(error.message) : INVALID_CLIENT();
};
const LOCKED_OUT = {
  description: 'E_TOO_MANY_ATTEMPTS: too many wrong secrets for this client id from this address lately (Retry-After says how long)',
};
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1) or the body, never both (§2.3). */
function credentials(
  headers: IncomingHttpHeaders,
  body: { client_id?: string | undefined; client_secret?: string | undefined },
): { clientId: string; clientSecret: string } {
  const basic = authorizationCredentials(headers, 'Basic');
  if (basic !== undefined && /^[A-Za-z0-9+/=]{1,1024}$/.test(basic)) {
    if (body.client_secret !== undefined) throw oauthError(400, 'invalid_request', 'use one client authentication method, not two');
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    try {
      if (colon > 0)
        return { clientId: decodeURIComponent(decoded.slice(0, colon)), clientSecret: decodeURIComponent(decoded.slice(colon + 1)) };
    } catch {
      // Not form-encoded as §2.3.1 asks: the same answer as a wrong secret.
    }
    throw INVALID_CLIENT();
  }
  if (body.client_id !== undefined && body.client_secret !== undefined)
    return { clientId: body.client_id, clientSecret: body.client_secret };
  throw INVALID_CLIENT();
}

/** `POST /token`, `POST /revoke`, `POST /introspect` and `GET /.well-known/jwks.json`. */
export function tokenRoutes(options: {
  issuer: TokenIssuer;
  clients: ClientRegistry;
  verifier: TokenVerifier;
  revocations: RevocationList;
  /** Where revocations outlive this process (with Redis). */
  store: RevocationStore | undefined;
  cache: Cache;
  bus: MessageBus | undefined;
  bodyLimit: number;
  /** Which proxies tell the client's address, which keys lockouts with the client id. */
  trustProxy: TrustProxy;
}): Route[] {
  const { issuer, clients, verifier, revocations, store, cache, bus, trustProxy } = options;
  /** Where an attempt comes from: lockouts count per client id and this address. */
  const sourceOf = (headers: IncomingHttpHeaders, peerAddress: string | undefined) => clientAddress(headers, peerAddress, trustProxy);
  const authenticateClient = async (
    headers: IncomingHttpHeaders,
    peerAddress: string | undefined,
    body: { client_id?: string | undefined; client_secret?: string | undefined },
  ): Promise<string> => {
    const { clientId, clientSecret } = credentials(headers, body);
    await clients.authenticate(clientId, clientSecret, sourceOf(headers, peerAddress)).catch((error: unknown) => {
      throw refusal(error);
    });
    return clientId;
  };
  return [
    defineRoute({
      method: 'POST',
      path: '/token',
      summary: 'OAuth 2.0 client-credentials grant (RFC 6749 §4.4)',
      body: TokenRequest,
      bodyLimit: options.bodyLimit,
      acceptsForm: true,
      errorFormat: 'oauth',
      responses: {
        200: { description: 'an access token', schema: TokenResponse },
        400: { description: 'invalid_request or unsupported_grant_type (RFC 6749 §5.2)' },
        401: { description: 'invalid_client' },
        429: LOCKED_OUT,
      },
      handle: async ({ body, headers, peerAddress }) => {
        if (body.grant_type === undefined || body.grant_type === '') throw oauthError(400, 'invalid_request', 'grant_type is required');
        if (body.grant_type !== 'client_credentials')
          throw oauthError(400, 'unsupported_grant_type', 'only the client_credentials grant is supported');
        const { clientId, clientSecret } = credentials(headers, body);
        try {
          return { json: await issuer.issue({ clientId, clientSecret, source: sourceOf(headers, peerAddress) }), headers: NO_STORE };
        } catch (error) {
          throw refusal(error);
        }
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/revoke',
      summary: 'Revoke a token (RFC 7009): every instance refuses it within a second',
      body: RevokeRequest,
      bodyLimit: options.bodyLimit,
      acceptsForm: true,
      errorFormat: 'oauth',
      responses: {
        200: { description: 'revoked, or nothing to revoke' },
        400: { description: 'invalid_request' },
        401: { description: 'invalid_client' },
        403: { description: "unauthorized_client: not this client's token" },
        429: LOCKED_OUT,
        503: {
          description:
            'temporarily_unavailable: the revocation could not be stored or sent; the token still works here (RFC 7009 §2.2.1), retry',
        },
      },
      handle: async ({ body, headers, peerAddress, traceparent, log }) => {
        const clientId = await authenticateClient(headers, peerAddress, body);
        let claims;
        try {
          claims = await verifier.verify(body.token);
        } catch (error) {
          if (error instanceof RevocationsUnknownError) throw unavailable(error.message);
          // RFC 7009 §2.2: an invalid or expired token needs no revoking; answer 200 anyway.
          return { json: {} };
        }
        // A client may revoke only its own tokens (RFC 7009 §2.1).
        if (claims.sub !== clientId) throw oauthError(403, 'unauthorized_client', 'a client may revoke only tokens issued to it');
        if (claims.jti === undefined) return { json: {} };
        // Stored first, so an instance started later refuses the token too; then told to
        // the running instances; revoked here last. A revocation that cannot be stored or
        // sent is not done here (503): the client's retry must find the token still valid
        // and do all of it again, or it would be answered 200 with nothing sent. Storing
        // and sending twice is harmless (ZADD GT; the event's id is deduplicated). One the
        // master took but no replica acknowledged (REDIS_WAIT_REPLICAS) goes ahead: every
        // instance reads the master, so it is in force now, and refusing it would leave valid
        // a token its owner wants dead, for the sake of a failover that may never come.
        await store?.add(claims.jti, claims.exp).catch((error: unknown) => {
          if (isNotReplicated(error)) {
            log.warn({ err: error }, 'revocation stored on the master only');
            return;
          }
          log.error({ err: error }, 'could not store the revocation');
          throw unavailable('the revocation could not be stored; retry');
        });
        // L1 and L2 here; every instance (this one too) drops its L1 copies on token.revoked.
        await cache.invalidateTags([principalTag(claims.sub)], { announce: false });
        const event: TokenRevokedEvent = { jti: claims.jti, sub: claims.sub, exp: claims.exp };
        await bus
          ?.publish(TOPICS.tokenRevoked.topic, event, {
            priority: TOPICS.tokenRevoked.priority,
            id: `token.revoked:${claims.jti}`,
            traceparent,
          })
          .catch((error: unknown) => {
            if (isNotReplicated(error)) {
              log.warn({ err: error }, 'token.revoked published on the master only');
              return;
            }
            // Stored, so each running instance still finds it at its next resync.
            log.error({ err: error }, 'could not publish token.revoked');
            throw unavailable('the revocation could not be sent to every instance; retry');
          });
        revocations.revoke(claims.jti, claims.exp);
        return { json: {} };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/introspect',
      summary: 'Is this token active, and what does it say? (RFC 7662)',
      body: IntrospectRequest,
      bodyLimit: options.bodyLimit,
      acceptsForm: true,
      errorFormat: 'oauth',
      responses: {
        200: {
          description: '{"active": false} for any token that is not active (expired, revoked, foreign, malformed), else its claims',
          schema: IntrospectResponse,
        },
        400: { description: 'invalid_request' },
        401: { description: 'invalid_client' },
        429: LOCKED_OUT,
      },
      handle: async ({ body, headers, peerAddress }) => {
        await authenticateClient(headers, peerAddress, body);
        let verified;
        try {
          // The same check as /authenticate, revocation list included: the same bound on every instance.
          verified = await verifier.verify(body.token);
        } catch {
          // RFC 7662 §2.2: never say why a token is not active.
          return { json: { active: false }, headers: NO_STORE };
        }
        const { iss, aud, iat } = verified.claims;
        const answer: IntrospectResponse = {
          active: true,
          token_type: 'Bearer',
          client_id: verified.sub,
          sub: verified.sub,
          exp: verified.exp,
          ...(typeof iss === 'string' ? { iss } : {}),
          ...(typeof aud === 'string' || Array.isArray(aud) ? { aud: aud as string | string[] } : {}),
          ...(typeof iat === 'number' ? { iat } : {}),
          ...(verified.jti === undefined ? {} : { jti: verified.jti }),
          roles: verified.roles,
          ...(verified.groups.length > 0 ? { groups: verified.groups } : {}),
        };
        return { json: answer, headers: NO_STORE };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/.well-known/jwks.json',
      summary: 'Public keys of the issued tokens (asymmetric keys only)',
      responses: { 200: { description: 'JWK Set' }, 404: { description: 'symmetric (HS256) signing: no public keys' } },
      handle: () => {
        const jwks = issuer.jwks();
        if (jwks.keys.length === 0) throw notFound('tokens are signed with a shared secret; there are no public keys');
        return { json: jwks, headers: { 'cache-control': 'public, max-age=300' } };
      },
    }),
  ];
}
