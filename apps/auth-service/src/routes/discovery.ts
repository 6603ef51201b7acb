import { notFound, type Route } from '@portcullis/http-kit';

/** What the metadata is built from: the service's own configuration. */
export interface DiscoveryOptions {
  /** The `iss` of issued tokens; the issuer identifier of RFC 8414, when it is an http(s) URL. */
  issuer: string;
  /** Where clients reach the endpoints. */
  publicUrl: string;
  /** The algorithm tokens are signed with. */
  algorithm: string;
  /** True when public keys are served at `/.well-known/jwks.json` (RS256, ES256). */
  publishesJwks: boolean;
}

const CLIENT_AUTH = ['client_secret_basic', 'client_secret_post'];

/**
 * RFC 8414 authorization server metadata at `/.well-known/oauth-authorization-server`
 * (with the issuer's path appended, as §3 says, when it has one). Only OAuth metadata:
 * this is no OpenID Provider (no ID tokens, no authorization endpoint), so
 * `/.well-known/openid-configuration` is deliberately not served.
 */
export function discoveryRoutes(options: DiscoveryOptions): Route[] {
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(options.issuer);
  } catch {
    issuerUrl = undefined;
  }
  const valid = issuerUrl !== undefined && /^https?:$/.test(issuerUrl.protocol) && issuerUrl.search === '' && issuerUrl.hash === '';
  const suffix = valid && issuerUrl!.pathname !== '/' ? issuerUrl!.pathname.replace(/\/$/, '') : '';
  const base = options.publicUrl;
  const metadata = {
    issuer: options.issuer,
    token_endpoint: `${base}/token`,
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    ...(options.publishesJwks ? { jwks_uri: `${base}/.well-known/jwks.json` } : {}),
    grant_types_supported: ['client_credentials'],
    // Required by RFC 8414, and empty: there is no authorization endpoint.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: CLIENT_AUTH,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH,
    // Not a registered member (RFC 8414 §2 allows others): how the JWT access tokens are signed.
    access_token_signing_alg_values_supported: [options.algorithm],
    service_documentation: `${base}/openapi.json`,
  };
  return [
    {
      method: 'GET',
      path: `/.well-known/oauth-authorization-server${suffix}`,
      summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
      traced: false,
      responses: {
        200: { description: 'the metadata' },
        404: { description: 'JWT_ISSUER is not an http(s) URL, so there is no issuer identifier to describe' },
      },
      handle: () => {
        if (!valid) throw notFound("discovery needs JWT_ISSUER to be the issuer's http(s) URL");
        return { json: metadata, headers: { 'cache-control': 'public, max-age=300' } };
      },
    },
  ];
}
