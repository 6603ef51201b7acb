import type { IncomingHttpHeaders } from 'node:http';
import { ERROR_CODES, RevokeRequest, TOPICS, TokenRequest, TokenResponse, type TokenRevokedEvent } from '@portcullis/contracts';
import { defineRoute, HttpError, type Route } from '@portcullis/http-kit';
import type { MessageBus } from '@portcullis/message-bus';
import type { Cache } from '@portcullis/cache';
import { principalTag } from '../decisions.ts';
import type { ClientRegistry, RevocationList, TokenIssuer, TokenVerifier } from '../tokens/index.ts';

const INVALID_CLIENT = (): HttpError =>
  new HttpError(401, 'E_INVALID_CLIENT', 'client authentication failed', { headers: { 'www-authenticate': 'Basic realm="portcullis"' } });

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1) or, failing that, the body. */
function credentials(headers: IncomingHttpHeaders, body: { client_id?: string | undefined; client_secret?: string | undefined }): { clientId: string; clientSecret: string } {
  const basic = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(headers.authorization ?? '');
  if (basic !== null) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { clientId: decodeURIComponent(decoded.slice(0, colon)), clientSecret: decodeURIComponent(decoded.slice(colon + 1)) };
  }
  if (body.client_id !== undefined && body.client_secret !== undefined) return { clientId: body.client_id, clientSecret: body.client_secret };
  throw INVALID_CLIENT();
}

/** `POST /token`, `POST /revoke` and `GET /.well-known/jwks.json`. */
export function tokenRoutes(options: {
  issuer: TokenIssuer; clients: ClientRegistry; verifier: TokenVerifier; revocations: RevocationList;
  cache: Cache; bus: MessageBus | undefined; bodyLimit: number;
}): Route[] {
  const { issuer, clients, verifier, revocations, cache, bus } = options;
  return [
    defineRoute({
      method: 'POST', path: '/token', summary: 'OAuth 2.0 client-credentials grant (RFC 6749 §4.4)',
      body: TokenRequest, bodyLimit: options.bodyLimit, acceptsForm: true,
      responses: { 200: { description: 'an access token', schema: TokenResponse }, 400: { description: 'malformed request' }, 401: { description: 'invalid client' } },
      handle: async ({ body, headers }) => {
        const { clientId, clientSecret } = credentials(headers, body);
        try {
          return { json: await issuer.issue({ clientId, clientSecret }), headers: { 'cache-control': 'no-store' } };
        } catch {
          throw INVALID_CLIENT();
        }
      },
    }),
    defineRoute({
      method: 'POST', path: '/revoke', summary: 'Revoke a token (RFC 7009): every instance refuses it within a second',
      body: RevokeRequest, bodyLimit: options.bodyLimit, acceptsForm: true,
      responses: { 200: { description: 'revoked, or nothing to revoke' }, 401: { description: 'invalid client' } },
      handle: async ({ body, headers, traceparent, log }) => {
        const { clientId, clientSecret } = credentials(headers, body);
        await clients.authenticate(clientId, clientSecret).catch(() => { throw INVALID_CLIENT(); });
        let claims;
        try {
          claims = await verifier.verify(body.token);
        } catch {
          // RFC 7009 §2.2: an invalid or expired token needs no revoking; answer 200 anyway.
          return { json: {} };
        }
        // A client may revoke only its own tokens.
        if (claims.sub !== clientId) throw new HttpError(403, ERROR_CODES.unauthorized, 'a client may revoke only tokens issued to it');
        if (claims.jti === undefined) return { json: {} };
        revocations.revoke(claims.jti, claims.exp);
        await cache.invalidateTags([principalTag(claims.sub)]);
        const event: TokenRevokedEvent = { jti: claims.jti, sub: claims.sub, exp: claims.exp };
        await bus?.publish(TOPICS.tokenRevoked.topic, event, { priority: TOPICS.tokenRevoked.priority, id: `token.revoked:${claims.jti}`, traceparent })
          .catch((error: unknown) => log.error({ err: error }, 'could not publish token.revoked; other instances keep accepting the token until it expires'));
        return { json: {} };
      },
    }),
    defineRoute({
      method: 'GET', path: '/.well-known/jwks.json', summary: 'Public keys of the issued tokens (asymmetric keys only)',
      responses: { 200: { description: 'JWK Set' }, 404: { description: 'symmetric (HS256) signing: no public keys' } },
      handle: () => {
        const jwks = issuer.jwks();
        if (jwks.keys.length === 0) throw new HttpError(404, ERROR_CODES.notFound, 'tokens are signed with a shared secret; there are no public keys');
        return { json: jwks, headers: { 'cache-control': 'public, max-age=300' } };
      },
    }),
  ];
}
