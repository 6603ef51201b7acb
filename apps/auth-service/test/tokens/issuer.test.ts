import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientAuthError, ClientRegistry, createTokenIssuer, createVerifier, hashClientSecret } from '../../src/tokens/index.ts';
import { AUD, ec, fakeClock, ISS, rsa, SECRET, startJwksServer } from './helpers.ts';

// A low scrypt cost keeps the tests quick; production uses Node's defaults.
const params = { N: 1024, r: 8, p: 1 };
const CLIENT_SECRET = 'client-secret-of-decent-length';

async function registry(): Promise<ClientRegistry> {
  const clients = new ClientRegistry({ params });
  await clients.register({ clientId: 'svc-a', clientSecret: CLIENT_SECRET, roles: ['reader', 'writer'] });
  return clients;
}

describe('client-credentials issuer', () => {
  it('HS256: an issued token verifies and carries iss, aud, sub, iat, exp, jti and roles', async () => {
    const clock = fakeClock();
    const issuer = createTokenIssuer({
      issuer: ISS,
      audience: AUD,
      ttlSec: 600,
      signingKey: { alg: 'HS256', secret: SECRET },
      clients: await registry(),
      now: clock.now,
    });
    const answer = await issuer.issue({ clientId: 'svc-a', clientSecret: CLIENT_SECRET });
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.expires_in, 600);
    const verifier = createVerifier({ algorithms: ['HS256'], issuer: ISS, audience: AUD, hs256Secret: SECRET, now: clock.now });
    const v = await verifier.verify(answer.access_token);
    assert.equal(v.sub, 'svc-a');
    assert.deepEqual(v.roles, ['reader', 'writer']);
    assert.equal(v.exp, Math.floor(clock.ms / 1000) + 600);
    assert.equal(v.claims['iat'], Math.floor(clock.ms / 1000));
    assert.match(v.jti ?? '', /^[0-9a-f-]{36}$/);
    const again = await verifier.verify((await issuer.issue({ clientId: 'svc-a', clientSecret: CLIENT_SECRET })).access_token);
    assert.notEqual(again.jti, v.jti);
    assert.deepEqual(issuer.jwks(), { keys: [] });
  });

  it('RS256: the token verifies against the published JWKS served over HTTP', async () => {
    const clock = fakeClock();
    const issuer = createTokenIssuer({
      issuer: ISS,
      audience: AUD,
      signingKey: { alg: 'RS256', privateKey: rsa.privateKey, kid: 'rs-1' },
      clients: await registry(),
      now: clock.now,
    });
    const jwks = issuer.jwks();
    assert.equal(jwks.keys.length, 1);
    assert.deepEqual([jwks.keys[0]!['kid'], jwks.keys[0]!['alg'], jwks.keys[0]!['use']], ['rs-1', 'RS256', 'sig']);
    assert.equal(jwks.keys[0]!['d'], undefined, 'no private member is published');
    const server = await startJwksServer(jwks.keys);
    try {
      const verifier = createVerifier({ algorithms: ['RS256'], issuer: ISS, audience: AUD, jwksUrl: server.url, now: clock.now });
      const { access_token } = await issuer.issue({ clientId: 'svc-a', clientSecret: CLIENT_SECRET });
      assert.equal((await verifier.verify(access_token)).sub, 'svc-a');
    } finally {
      await server.close();
    }
  });

  it('ES256: the token verifies with publicKeys keyed by kid', async () => {
    const clock = fakeClock();
    const issuer = createTokenIssuer({
      issuer: ISS,
      audience: AUD,
      signingKey: { alg: 'ES256', privateKey: ec.privateKey, kid: 'es-1' },
      clients: await registry(),
      now: clock.now,
    });
    const verifier = createVerifier({ algorithms: ['ES256'], issuer: ISS, audience: AUD, publicKeys: issuer.publicKeys(), now: clock.now });
    assert.equal(
      (await verifier.verify((await issuer.issue({ clientId: 'svc-a', clientSecret: CLIENT_SECRET })).access_token)).sub,
      'svc-a',
    );
  });

  it('wrong secret, unknown client, missing or odd credentials: E_INVALID_CLIENT', async () => {
    const issuer = createTokenIssuer({
      issuer: ISS,
      audience: AUD,
      signingKey: { alg: 'HS256', secret: SECRET },
      clients: await registry(),
    });
    const attempts = [
      { clientId: 'svc-a', clientSecret: `${CLIENT_SECRET}x` },
      { clientId: 'svc-a', clientSecret: '' },
      { clientId: 'nobody', clientSecret: CLIENT_SECRET },
      { clientId: undefined, clientSecret: undefined },
      { clientId: 'svc-a', clientSecret: 42 },
      { clientId: 'svc-a', clientSecret: 'y'.repeat(5000) },
    ];
    for (const attempt of attempts) {
      await assert.rejects(issuer.issue(attempt), (error: unknown) => {
        assert.ok(error instanceof ClientAuthError);
        assert.equal(error.code, 'E_INVALID_CLIENT');
        assert.ok(!error.message.includes(CLIENT_SECRET));
        return true;
      });
    }
  });

  it('secrets are stored hashed with a per-client salt, never in plain text', async () => {
    const a = await hashClientSecret(CLIENT_SECRET, params);
    const b = await hashClientSecret(CLIENT_SECRET, params);
    assert.match(a, /^scrypt\$1024\$8\$1\$/);
    assert.ok(!a.includes(CLIENT_SECRET) && !a.includes(Buffer.from(CLIENT_SECRET).toString('base64url')));
    assert.notEqual(a, b, 'a fresh salt per hash');
    const clients = new ClientRegistry({ params });
    clients.add({ clientId: 'svc-b', secretHash: a, roles: ['reader'] });
    assert.deepEqual(await clients.authenticate('svc-b', CLIENT_SECRET), { clientId: 'svc-b', roles: ['reader'], groups: [] });
    assert.throws(() => clients.add({ clientId: 'svc-c', secretHash: CLIENT_SECRET }), /secretHash/);
    await assert.rejects(hashClientSecret('short'), /clientSecret/);
  });

  it('refuses bad options naming them', async () => {
    const clients = await registry();
    assert.throws(
      () => createTokenIssuer({ issuer: ISS, audience: AUD, signingKey: { alg: 'HS256', secret: 'short' }, clients }),
      /signingKey.secret/,
    );
    assert.throws(
      () => createTokenIssuer({ issuer: ISS, audience: AUD, signingKey: { alg: 'ES256', privateKey: rsa.privateKey, kid: 'x' }, clients }),
      /ES256/,
    );
    assert.throws(
      () => createTokenIssuer({ issuer: ISS, audience: AUD, signingKey: { alg: 'RS256', privateKey: rsa.privateKey, kid: '' }, clients }),
      /kid/,
    );
    assert.throws(
      () => createTokenIssuer({ issuer: ISS, audience: AUD, ttlSec: 0, signingKey: { alg: 'HS256', secret: SECRET }, clients }),
      /ttlSec/,
    );
  });
});
