import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import { CLIENT, EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

// What a client application does, with two well-kept libraries of the ecosystem:
// oauth4webapi (discovery, client credentials, introspection, revocation) and jose
// (verifying our tokens against our JWKS). Plain http on loopback is allowed explicitly.
const insecure = { [oauth.allowInsecureRequests]: true };
const client: oauth.Client = { client_id: CLIENT.client_id };
const basic = oauth.ClientSecretBasic(CLIENT.client_secret);

describe('OAuth interop: oauth4webapi and jose against the real auth-service', () => {
  let stack: Stack;
  let dir: string;
  const instances: Record<'HS256' | 'RS256' | 'ES256', string> = { HS256: '', RS256: '', ES256: '' };
  before(async () => {
    stack = await startStack(0);
    dir = await mkdtemp(join(tmpdir(), 'interop-'));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    await writeFile(join(dir, 'rsa.pem'), rsa);
    await writeFile(join(dir, 'ec.pem'), ec);
    // Each instance is its own issuer: the URL clients discover it at.
    const self = (env: Record<string, string>) => (url: string) => ({ ...env, AUTH_PUBLIC_URL: url, JWT_ISSUER: url });
    instances.HS256 = (await stack.addAuth(self({ JWT_ALGORITHM: 'HS256' }))).url;
    instances.RS256 = (await stack.addAuth(self({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY_FILE: join(dir, 'rsa.pem') }))).url;
    instances.ES256 = (await stack.addAuth(self({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY_FILE: join(dir, 'ec.pem') }))).url;
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  const discover = async (url: string): Promise<oauth.AuthorizationServer> => {
    const issuer = new URL(url);
    return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  };
  const clientCredentials = async (as: oauth.AuthorizationServer): Promise<string> => {
    const response = await oauth.clientCredentialsGrantRequest(as, client, basic, new URLSearchParams(), insecure);
    return (await oauth.processClientCredentialsResponse(as, client, response)).access_token;
  };
  const introspect = async (as: oauth.AuthorizationServer, token: string) =>
    oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, basic, token, insecure));

  for (const alg of ['HS256', 'RS256', 'ES256'] as const) {
    test(`${alg}: discovery, client credentials, introspection, revocation${alg === 'HS256' ? '' : ', JWKS verification with jose'}`, async () => {
      const url = instances[alg];
      const as = await discover(url);
      assert.equal(as.issuer, url);
      assert.equal(as.token_endpoint, `${url}/token`);
      assert.equal(as.introspection_endpoint, `${url}/introspect`);
      assert.equal(as.revocation_endpoint, `${url}/revoke`);
      assert.deepEqual(as.grant_types_supported, ['client_credentials']);
      assert.deepEqual(as.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);

      const token = await clientCredentials(as);
      if (alg === 'HS256') {
        // A shared secret is never published: no JWKS in the metadata, none served.
        assert.equal(as.jwks_uri, undefined);
        assert.equal((await fetch(`${url}/.well-known/jwks.json`)).status, 404);
      } else {
        const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri!));
        const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer: url, audience: 'portcullis', algorithms: [alg] });
        assert.equal(protectedHeader.alg, alg);
        assert.equal(payload.sub, CLIENT.client_id);
      }

      const active = await introspect(as, token);
      assert.equal(active.active, true);
      assert.equal(active.sub, CLIENT.client_id);
      assert.equal(active.client_id, CLIENT.client_id);
      assert.equal(active.iss, url);
      assert.equal(active.token_type, 'Bearer');
      assert.ok(typeof active.exp === 'number' && active.exp > Date.now() / 1000);

      await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, basic, token, insecure));
      assert.deepEqual(await introspect(as, token), { active: false });
      assert.equal((await authenticate(url, token, EDIT_DOC)).status, 401);
    });
  }

  test('introspection says only "active": false for expired, foreign, malformed and other-audience tokens', async () => {
    const url = instances.HS256;
    const as = await discover(url);
    const secret = new TextEncoder().encode('e2e-jwt-secret-0123456789abcdef0123456789');
    const sign = (claims: jose.JWTPayload, key = secret) => new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const now = Math.floor(Date.now() / 1000);
    const valid = { iss: url, aud: 'portcullis', sub: CLIENT.client_id, jti: 'j1', roles: ['editor'] };
    // Sanity: the same claims, signed right, are active; each variant below is not.
    assert.equal((await introspect(as, await sign({ ...valid, iat: now, exp: now + 60 }))).active, true);
    const inactive = [
      await sign({ ...valid, iat: now - 120, exp: now - 60 }),
      await sign({ ...valid, iat: now, exp: now + 60 }, new TextEncoder().encode('another-secret-0123456789abcdef012345')),
      await sign({ ...valid, iss: 'https://someone.else', iat: now, exp: now + 60 }),
      await sign({ ...valid, aud: 'another-api', iat: now, exp: now + 60 }),
      'not-a-token',
    ];
    for (const token of inactive) {
      const res = await fetch(`${url}/introspect`, {
        method: 'POST',
        headers: { authorization: `Basic ${btoa(`${CLIENT.client_id}:${CLIENT.client_secret}`)}` },
        body: new URLSearchParams({ token }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await res.json(), { active: false }, token.slice(0, 30));
    }
  });

  test('errors as RFC 6749 §5.2 says; no OpenID discovery document (this is no OpenID Provider)', async () => {
    const url = instances.HS256;
    const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${url}${path}`, { method: 'POST', headers, body: new URLSearchParams(form) });
    const basicHeader = (secret: string) => ({ authorization: `Basic ${btoa(`${CLIENT.client_id}:${secret}`)}` });
    const cases: [Promise<Response>, number, string][] = [
      [post('/token', { grant_type: 'client_credentials' }, basicHeader('wrong-secret-0123456789')), 401, 'invalid_client'],
      [post('/token', { grant_type: 'client_credentials' }), 401, 'invalid_client'],
      [
        post('/token', { grant_type: 'password', username: 'u', password: 'p' }, basicHeader(CLIENT.client_secret)),
        400,
        'unsupported_grant_type',
      ],
      [post('/token', {}, basicHeader(CLIENT.client_secret)), 400, 'invalid_request'],
      [
        post('/token', { grant_type: 'client_credentials', client_secret: CLIENT.client_secret }, basicHeader(CLIENT.client_secret)),
        400,
        'invalid_request',
      ],
      [
        fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }),
        400,
        'invalid_request',
      ],
      [post('/introspect', {}, basicHeader(CLIENT.client_secret)), 400, 'invalid_request'],
      [post('/introspect', { token: 'x' }, basicHeader('wrong-secret-0123456789')), 401, 'invalid_client'],
      [post('/revoke', { token: 'x' }, basicHeader('wrong-secret-0123456789')), 401, 'invalid_client'],
      // A parameter given twice (§3.2): refused, not one of the two picked.
      ...(['/token', '/revoke', '/introspect'] as const).map((path): [Promise<Response>, number, string] => [
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: basicHeader(CLIENT.client_secret),
          body: new URLSearchParams([
            ['grant_type', 'client_credentials'],
            ['token', 'a'],
            ['token', 'b'],
            ['grant_type', 'client_credentials'],
          ]),
        }),
        400,
        'invalid_request',
      ]),
    ];
    for (const [pending, status, error] of cases) {
      const res = await pending;
      assert.equal(res.status, status, error);
      const body = (await res.json()) as { error: string; error_description?: string };
      assert.equal(body.error, error);
      assert.equal(typeof body.error_description, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    }
    assert.equal((await fetch(`${url}/.well-known/openid-configuration`)).status, 404);
  });

  test('auth schemes are matched without regard to case (RFC 9110 §11.1): basic on /token, bearer on /authenticate', async () => {
    const url = instances.HS256;
    const issued = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { authorization: `basic ${btoa(`${CLIENT.client_id}:${CLIENT.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    assert.equal(issued.status, 200, await issued.clone().text());
    const token = ((await issued.json()) as { access_token: string }).access_token;
    for (const scheme of ['bearer', 'BEARER']) {
      const res = await fetch(`${url}/authenticate`, {
        method: 'POST',
        headers: { authorization: `${scheme} ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(EDIT_DOC),
      });
      assert.equal(res.status, 200, scheme);
    }
    const other = await fetch(`${url}/authenticate`, {
      method: 'POST',
      headers: { authorization: `Bearerx ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(EDIT_DOC),
    });
    assert.equal(other.status, 401);
  });
});
