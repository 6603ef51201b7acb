import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createVerifier, TokenError } from '../../src/tokens/index.ts';
import { AUD, claims, ec, fakeClock, ISS, publicJwk, rawToken, rsa, rsa2, startJwksServer, type JwksServer } from './helpers.ts';

const code = (expected: string, detail?: (e: TokenError) => void) => (error: unknown) => {
  assert.ok(error instanceof TokenError, String(error));
  assert.equal(error.code, expected, error.message);
  detail?.(error);
  return true;
};
const signed = (kid: string, key = rsa.privateKey, alg = 'RS256') => rawToken({ alg, kid }, claims(), key);

describe('verifier with a JWKS URL (real local server)', () => {
  let server: JwksServer;
  before(async () => {
    server = await startJwksServer([publicJwk(rsa.publicKey, 'k1', 'RS256')]);
  });
  after(() => server.close());

  function make(extra: Record<string, unknown> = {}) {
    server.requests = 0;
    server.fail = false;
    server.keys = [publicJwk(rsa.publicKey, 'k1', 'RS256')];
    const clock = fakeClock();
    const verifier = createVerifier({
      algorithms: ['RS256', 'ES256'],
      issuer: ISS,
      audience: AUD,
      jwksUrl: server.url,
      jwksCooldownMs: 30_000,
      now: clock.now,
      ...extra,
    });
    return { clock, verifier };
  }

  it('fetches once, then verifies from the cache', async () => {
    const { verifier } = make();
    await Promise.all([verifier.verify(signed('k1')), verifier.verify(signed('k1'))]);
    assert.equal((await verifier.verify(signed('k1'))).sub, 'alice');
    assert.equal(server.requests, 1);
  });

  it('rotation: a new kid triggers exactly one refetch', async () => {
    const { clock, verifier } = make();
    await verifier.verify(signed('k1'));
    server.keys = [publicJwk(rsa.publicKey, 'k1', 'RS256'), publicJwk(rsa2.publicKey, 'k2', 'RS256')];
    clock.ms += 30_000;
    assert.equal((await verifier.verify(signed('k2', rsa2.privateKey))).sub, 'alice');
    assert.equal((await verifier.verify(signed('k2', rsa2.privateKey))).sub, 'alice');
    assert.equal(server.requests, 2);
  });

  it('cooldown: a flood of unknown kids refetches at most once per cooldown', async () => {
    const { clock, verifier } = make();
    await verifier.verify(signed('k1'));
    // Within the cooldown of the first fetch: no refetch at all.
    const flood = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          verifier.verify(signed(`made-up-${i}-${clock.ms}`)).then(
            () => assert.fail('an unknown kid was accepted'),
            (e: unknown) => code('E_TOKEN_UNKNOWN_KEY')(e),
          ),
        ),
      );
    await flood(50);
    assert.equal(server.requests, 1);
    // Past the cooldown: a concurrent flood shares one refetch, later ones wait for the next window.
    clock.ms += 30_000;
    await flood(50);
    await flood(50);
    assert.equal(server.requests, 2);
    clock.ms += 29_999;
    await flood(10);
    assert.equal(server.requests, 2);
    clock.ms += 1;
    await flood(10);
    assert.equal(server.requests, 3);
  });

  it('a fetch failure refuses and never accepts, and fetches stay spaced by the cooldown', async () => {
    const { clock, verifier } = make();
    server.fail = true;
    await assert.rejects(
      verifier.verify(signed('k1')),
      code('E_TOKEN_UNKNOWN_KEY', (e) => assert.equal(e.context['reason'], 'jwks_unavailable')),
    );
    await assert.rejects(verifier.verify(signed('k1')), code('E_TOKEN_UNKNOWN_KEY'));
    assert.equal(server.requests, 1);
    server.fail = false;
    clock.ms += 30_000;
    assert.equal((await verifier.verify(signed('k1'))).sub, 'alice');
    assert.equal(server.requests, 2);
  });

  it('an unreachable JWKS server refuses', async () => {
    const closed = await startJwksServer([]);
    const url = closed.url;
    await closed.close();
    const verifier = createVerifier({ algorithms: ['RS256'], issuer: ISS, audience: AUD, jwksUrl: url, now: fakeClock().now });
    await assert.rejects(verifier.verify(signed('k1')), code('E_TOKEN_UNKNOWN_KEY'));
  });

  it('keys keep working through a failed periodic refresh', async () => {
    const { clock, verifier } = make({ jwksMaxAgeMs: 60_000 });
    await verifier.verify(signed('k1'));
    server.fail = true;
    clock.ms += 60_000;
    assert.equal((await verifier.verify(signed('k1'))).sub, 'alice');
    assert.equal(server.requests, 2);
  });

  it('a key is used only with the algorithm it is published for, and with a fitting type', async () => {
    const { verifier } = make();
    server.keys = [
      publicJwk(rsa.publicKey, 'k1', 'RS256'),
      publicJwk(ec.publicKey, 'e1', 'ES256'),
      { ...publicJwk(ec.publicKey, 'e2', 'ES256'), alg: undefined },
    ];
    assert.equal((await verifier.verify(signed('e1', ec.privateKey, 'ES256'))).sub, 'alice');
    await assert.rejects(verifier.verify(signed('e1', rsa.privateKey, 'RS256')), code('E_TOKEN_ALGORITHM'));
    await assert.rejects(verifier.verify(signed('e2', rsa.privateKey, 'RS256')), code('E_TOKEN_ALGORITHM'));
  });

  it('a token without a kid is refused', async () => {
    const { verifier } = make();
    await assert.rejects(verifier.verify(rawToken({ alg: 'RS256' }, claims(), rsa.privateKey)), code('E_TOKEN_UNKNOWN_KEY'));
  });

  it('a jku header is refused without any fetch, even one naming our own JWKS', async () => {
    const { verifier } = make();
    const token = rawToken({ alg: 'RS256', kid: 'k1', jku: server.url }, claims(), rsa.privateKey);
    await assert.rejects(verifier.verify(token), code('E_TOKEN_FORBIDDEN_HEADER'));
    assert.equal(server.requests, 0);
  });

  it('secret (oct) and non-signature keys in the JWKS are ignored', async () => {
    const { clock, verifier } = make();
    server.keys = [
      { kty: 'oct', k: Buffer.from('s'.repeat(32)).toString('base64url'), kid: 'h1', alg: 'HS256' },
      { ...publicJwk(rsa2.publicKey, 'enc', 'RS256'), use: 'enc' },
      publicJwk(rsa.publicKey, 'k1', 'RS256'),
    ];
    await assert.rejects(verifier.verify(signed('enc', rsa2.privateKey)), code('E_TOKEN_UNKNOWN_KEY'));
    clock.ms += 30_000;
    await assert.rejects(verifier.verify(rawToken({ alg: 'HS256', kid: 'h1' }, claims(), 's'.repeat(32))), code('E_TOKEN_ALGORITHM'));
  });
});
