import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { createVerifier, RevocationList, TokenError } from '../../src/tokens/index.ts';
import { AUD, claims, ec, ecPublicPem, fakeClock, ISS, rawToken, rsa, rsa2, rsaPublicPem, SECRET } from './helpers.ts';

/** Asserts `promise` rejects with a TokenError of `code` whose message does not hold the token. */
async function refused(promise: Promise<unknown>, code: string, token: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (token.length >= 8) {
      assert.ok(!error.message.includes(token.slice(0, 20)), 'the message must not carry the token');
      assert.ok(!JSON.stringify(error.context).includes(token.slice(0, 20)), 'the context must not carry the token');
    }
    return true;
  });
}

function hsVerifier(extra: Record<string, unknown> = {}) {
  const clock = fakeClock();
  return {
    clock,
    verifier: createVerifier({ algorithms: ['HS256'], issuer: ISS, audience: AUD, hs256Secret: SECRET, now: clock.now, ...extra }),
  };
}
function rsVerifier(extra: Record<string, unknown> = {}) {
  const clock = fakeClock();
  return {
    clock,
    verifier: createVerifier({ algorithms: ['RS256'], issuer: ISS, audience: AUD, publicKeys: rsaPublicPem, now: clock.now, ...extra }),
  };
}
const hs = (payload = claims(), header: Record<string, unknown> = {}) => rawToken({ alg: 'HS256', typ: 'JWT', ...header }, payload, SECRET);
const rs = (payload = claims(), header: Record<string, unknown> = {}) =>
  rawToken({ alg: 'RS256', typ: 'JWT', ...header }, payload, rsa.privateKey);

describe('verifier: valid tokens', () => {
  it('accepts an HS256 token and returns its principal', async () => {
    const token = jwt.sign(claims(), SECRET, { algorithm: 'HS256' });
    const v = await hsVerifier().verifier.verify(token);
    assert.deepEqual(
      { sub: v.sub, roles: v.roles, groups: v.groups, jti: v.jti, exp: v.exp },
      {
        sub: 'alice',
        roles: ['reader'],
        groups: ['staff'],
        jti: 'jti-1',
        exp: claims()['exp'],
      },
    );
    assert.equal(v.claims['iss'], ISS);
  });

  it('accepts RS256 and ES256 tokens', async () => {
    assert.equal((await rsVerifier().verifier.verify(rs())).sub, 'alice');
    const clock = fakeClock();
    const es = createVerifier({ algorithms: ['ES256'], issuer: ISS, audience: AUD, publicKeys: ecPublicPem, now: clock.now });
    assert.equal((await es.verify(jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256' }))).sub, 'alice');
  });

  it('picks the key by kid when publicKeys are keyed, and refuses an unknown kid', async () => {
    const clock = fakeClock();
    const v = createVerifier({
      algorithms: ['RS256'],
      issuer: ISS,
      audience: AUD,
      now: clock.now,
      publicKeys: { old: rsa2.publicKey.export({ format: 'pem', type: 'spki' }).toString(), cur: rsaPublicPem },
    });
    assert.equal((await v.verify(rs(claims(), { kid: 'cur' }))).sub, 'alice');
    const unknown = rs(claims(), { kid: 'nope' });
    await refused(v.verify(unknown), 'E_TOKEN_UNKNOWN_KEY', unknown);
    const wrongKey = rs(claims(), { kid: 'old' });
    await refused(v.verify(wrongKey), 'E_TOKEN_SIGNATURE', wrongKey);
  });

  it('respects the clock tolerance on exp and nbf', async () => {
    const { clock, verifier } = hsVerifier({ clockToleranceSec: 5 });
    const token = hs();
    const exp = claims()['exp'] as number;
    clock.ms = (exp + 4) * 1000;
    assert.equal((await verifier.verify(token)).sub, 'alice');
    clock.ms = (exp + 5) * 1000;
    await refused(verifier.verify(token), 'E_TOKEN_EXPIRED', token);
    clock.ms = 0;
    const nbf = Math.floor(1_800_000_000_000 / 1000) + 10;
    const early = hs(claims({ nbf }));
    clock.ms = (nbf - 5) * 1000;
    assert.equal((await verifier.verify(early)).sub, 'alice');
    clock.ms = (nbf - 6) * 1000;
    await refused(verifier.verify(early), 'E_TOKEN_NOT_YET_VALID', early);
  });
});

describe('verifier: attacks are refused with their code', () => {
  const cases: Array<[string, () => string, string, 'hs' | 'rs']> = [
    ['alg none', () => rawToken({ alg: 'none', typ: 'JWT' }, claims()), 'E_TOKEN_SIGNATURE', 'rs'],
    ['alg none with a signature part', () => `${rawToken({ alg: 'none' }, claims())}c2ln`, 'E_TOKEN_ALGORITHM', 'rs'],
    ['HS256 signed with the RS256 public key', () => rawToken({ alg: 'HS256' }, claims(), rsaPublicPem), 'E_TOKEN_ALGORITHM', 'rs'],
    ['RS384 not pinned', () => rawToken({ alg: 'RS384' }, claims(), rsa.privateKey), 'E_TOKEN_ALGORITHM', 'rs'],
    [
      'tampered claims',
      () => {
        const [h, , s] = rs().split('.');
        return `${h}.${Buffer.from(JSON.stringify(claims({ sub: 'admin', roles: ['admin'] }))).toString('base64url')}.${s}`;
      },
      'E_TOKEN_SIGNATURE',
      'rs',
    ],
    ['signed by another key', () => rawToken({ alg: 'RS256' }, claims(), rsa2.privateKey), 'E_TOKEN_SIGNATURE', 'rs'],
    ['stripped signature', () => rs().split('.').slice(0, 2).join('.') + '.', 'E_TOKEN_SIGNATURE', 'rs'],
    ['stripped signature without the dot', () => rs().split('.').slice(0, 2).join('.'), 'E_TOKEN_SIGNATURE', 'rs'],
    ['expired', () => hs(claims({ exp: Math.floor(1_800_000_000_000 / 1000) - 60 })), 'E_TOKEN_EXPIRED', 'hs'],
    ['nbf in the future', () => hs(claims({ nbf: Math.floor(1_800_000_000_000 / 1000) + 60 })), 'E_TOKEN_NOT_YET_VALID', 'hs'],
    ['wrong iss', () => hs(claims({ iss: 'https://evil.test' })), 'E_TOKEN_CLAIMS', 'hs'],
    ['wrong aud', () => hs(claims({ aud: 'someone-else' })), 'E_TOKEN_CLAIMS', 'hs'],
    ['missing sub', () => hs(claims({ sub: undefined })), 'E_TOKEN_CLAIMS', 'hs'],
    ['missing exp', () => hs(claims({ exp: undefined })), 'E_TOKEN_CLAIMS', 'hs'],
    ['roles not strings', () => hs(claims({ roles: [1, 2] })), 'E_TOKEN_CLAIMS', 'hs'],
    ['too many groups', () => hs(claims({ groups: Array.from({ length: 65 }, (_, i) => `g${i}`) })), 'E_TOKEN_CLAIMS', 'hs'],
    ['an overlong role', () => hs(claims({ roles: ['r'.repeat(129)] })), 'E_TOKEN_CLAIMS', 'hs'],
    // Signed, but text the policy-service refuses: the token fails, not its decision's batch.
    ['a lone surrogate in sub', () => hs(claims({ sub: 'alice\ud800' })), 'E_TOKEN_CLAIMS', 'hs'],
    ['a lone surrogate in a role', () => hs(claims({ roles: ['\udc00'] })), 'E_TOKEN_CLAIMS', 'hs'],
    ['a lone surrogate in jti', () => hs(claims({ jti: '\ud800' })), 'E_TOKEN_CLAIMS', 'hs'],
    ['jku header', () => rs(claims(), { jku: 'https://evil.test/jwks.json' }), 'E_TOKEN_FORBIDDEN_HEADER', 'rs'],
    ['x5u header', () => rs(claims(), { x5u: 'https://evil.test/cert.pem' }), 'E_TOKEN_FORBIDDEN_HEADER', 'rs'],
    [
      'embedded jwk',
      () => rawToken({ alg: 'RS256', jwk: rsa2.publicKey.export({ format: 'jwk' }) }, claims(), rsa2.privateKey),
      'E_TOKEN_FORBIDDEN_HEADER',
      'rs',
    ],
    ['crit header', () => rs(claims(), { crit: ['exp'] }), 'E_TOKEN_FORBIDDEN_HEADER', 'rs'],
    ['oversized token', () => hs(claims({ pad: 'p'.repeat(9000) })), 'E_TOKEN_TOO_LARGE', 'hs'],
    ['garbage', () => 'not a token at all', 'E_TOKEN_MALFORMED', 'hs'],
    ['header not JSON', () => `${Buffer.from('{nope').toString('base64url')}.e30.c2ln`, 'E_TOKEN_MALFORMED', 'hs'],
    ['header not an object', () => `${Buffer.from('[1]').toString('base64url')}.e30.c2ln`, 'E_TOKEN_MALFORMED', 'hs'],
    [
      'payload not JSON',
      () => rawToken({ alg: 'HS256' }, claims(), SECRET).replace(/\.[^.]+\./, `.${Buffer.from('xx').toString('base64url')}.`),
      'E_TOKEN_SIGNATURE',
      'hs',
    ],
    ['empty', () => '', 'E_TOKEN_MALFORMED', 'hs'],
  ];
  for (const [name, make, code, kind] of cases) {
    it(`${name} → ${code}`, async () => {
      const token = make();
      const { verifier } = kind === 'hs' ? hsVerifier() : rsVerifier();
      await refused(verifier.verify(token), code, token);
    });
  }

  it('a payload that is signed but not a JSON object is refused (its claims cannot be checked)', async () => {
    const input = `${Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url')}.${Buffer.from('plain text').toString('base64url')}`;
    const token = `${input}.${(await import('node:crypto')).createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    await refused(hsVerifier().verifier.verify(token), 'E_TOKEN_CLAIMS', token);
  });
});

describe('verifier: options', () => {
  const base = { issuer: ISS, audience: AUD };
  it('refuses none, unknown algorithms, short secrets, zero or two key sources, and mismatched keys', () => {
    assert.throws(() => createVerifier({ ...base, algorithms: ['none'], hs256Secret: SECRET }), /algorithms/);
    assert.throws(() => createVerifier({ ...base, algorithms: [], hs256Secret: SECRET }), /algorithms/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['HS256'], hs256Secret: 'short' }), /hs256Secret/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['HS256'] }), /exactly one/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['HS256'], hs256Secret: SECRET, publicKeys: rsaPublicPem }), /exactly one/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['HS256'], publicKeys: rsaPublicPem }), /HS256/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['ES256'], publicKeys: rsaPublicPem }), /ES256/);
    assert.throws(() => createVerifier({ ...base, issuer: '', algorithms: ['HS256'], hs256Secret: SECRET }), /issuer/);
    assert.throws(() => createVerifier({ ...base, algorithms: ['RS256'], publicKeys: 'not a pem' }), /publicKeys/);
  });
});

describe('verifier: revocation', () => {
  it('refuses a token whose jti is on the revocation list, with E_TOKEN_REVOKED', async () => {
    const clock = fakeClock();
    const revocations = new RevocationList({ now: clock.now });
    const { verifier } = hsVerifier({ revocations, now: clock.now });
    const token = hs();
    assert.equal((await verifier.verify(token)).jti, 'jti-1');
    revocations.revoke('jti-1', claims()['exp'] as number);
    await refused(verifier.verify(token), 'E_TOKEN_REVOKED', token);
    assert.equal((await verifier.verify(hs(claims({ jti: 'jti-2' })))).sub, 'alice');
  });

  it('a revoked token stays refused while the clock tolerance still accepts it past exp, then is refused as expired', async () => {
    for (const memoMaxAgeMs of [0, 3_600_000]) {
      const clock = fakeClock();
      const revocations = new RevocationList({ now: clock.now, toleranceSec: 5 });
      const options = {
        algorithms: ['HS256' as const],
        issuer: ISS,
        audience: AUD,
        hs256Secret: SECRET,
        now: clock.now,
        clockToleranceSec: 5,
        memoMaxAgeMs,
      };
      const verifier = createVerifier(options);
      const checked = createVerifier({ ...options, revocations });
      const token = hs();
      assert.equal((await checked.verify(token)).sub, 'alice');
      const exp = claims()['exp'] as number;
      // Revoked in the last second of its life: what the list holds must outlast the tolerance.
      clock.ms = exp * 1000 - 500;
      assert.equal(revocations.revoke('jti-1', exp), true);
      clock.ms = (exp + 3) * 1000;
      assert.equal((await verifier.verify(token)).sub, 'alice', 'the control: without the list the tolerance still accepts it');
      await refused(checked.verify(token), 'E_TOKEN_REVOKED', token);
      clock.ms = (exp + 5) * 1000;
      await refused(checked.verify(token), 'E_TOKEN_EXPIRED', token);
      // Revoking during the tolerance is recorded too, not answered with nothing done.
      clock.ms = (exp + 2) * 1000;
      assert.equal(revocations.revoke('jti-late', exp), true);
    }
  });
});

describe('verifier: remembered tokens', () => {
  it('a remembered token still expires at exp plus the clock tolerance, as a fresh check would', async () => {
    const { clock, verifier } = hsVerifier({ clockToleranceSec: 5, memoMaxAgeMs: 3_600_000 });
    const token = hs();
    assert.equal((await verifier.verify(token)).sub, 'alice');
    const exp = claims()['exp'] as number;
    clock.ms = (exp + 5) * 1000 - 1;
    assert.equal((await verifier.verify(token)).sub, 'alice');
    clock.ms = (exp + 5) * 1000;
    await refused(verifier.verify(token), 'E_TOKEN_EXPIRED', token);
  });

  it('a token differing only in its signature is checked afresh and refused', async () => {
    const { verifier } = hsVerifier();
    const token = hs();
    await verifier.verify(token);
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    await refused(verifier.verify(forged), 'E_TOKEN_SIGNATURE', forged);
  });

  it('the remembered principal is frozen: one request cannot change what the next one sees', async () => {
    const { verifier } = hsVerifier();
    const token = hs();
    const first = await verifier.verify(token);
    assert.throws(() => first.roles.push('admin'), TypeError);
    assert.deepEqual((await verifier.verify(token)).roles, ['reader']);
  });

  it('memoEntries: 0 turns remembering off; bad values are refused', async () => {
    const { verifier } = hsVerifier({ memoEntries: 0 });
    const token = hs();
    assert.equal((await verifier.verify(token)).sub, 'alice');
    assert.equal((await verifier.verify(token)).sub, 'alice');
    assert.throws(() => hsVerifier({ memoEntries: 1.5 }), /memoEntries/);
    assert.throws(() => hsVerifier({ memoMaxAgeMs: -1 }), /memoMaxAgeMs/);
  });
});
