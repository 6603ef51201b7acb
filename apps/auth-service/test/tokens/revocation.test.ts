import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RevocationList, RevocationsUnknownError } from '../../src/tokens/index.ts';
import { fakeClock } from './helpers.ts';

describe('RevocationList', () => {
  it('while earlier revocations are not loaded, every check throws (fail closed); once loaded, it answers', () => {
    const clock = fakeClock();
    const list = new RevocationList({ now: clock.now, loaded: false });
    list.revoke('a', clock.ms / 1000 + 60);
    assert.throws(() => list.isRevoked('b'), RevocationsUnknownError);
    assert.equal(list.loaded, false);
    list.markLoaded();
    assert.equal(list.isRevoked('a'), true);
    assert.equal(list.isRevoked('b'), false);
  });

  it('refuses a revoked jti until the token expires, then forgets it', () => {
    const clock = fakeClock();
    const list = new RevocationList({ now: clock.now });
    const exp = clock.ms / 1000 + 60;
    assert.equal(list.revoke('a', exp), true);
    assert.equal(list.revoke('a', exp), true, 'idempotent: the bus delivers at least once');
    assert.equal(list.isRevoked('a'), true);
    assert.equal(list.isRevoked('b'), false);
    assert.equal(list.size, 1);
    clock.ms = exp * 1000;
    assert.equal(list.isRevoked('a'), false);
    assert.equal(list.size, 0, 'expiry frees the entry');
  });

  it('ignores already expired tokens and bad input', () => {
    const clock = fakeClock();
    const list = new RevocationList({ now: clock.now });
    assert.equal(list.revoke('old', clock.ms / 1000 - 1), false);
    assert.equal(list.revoke('', clock.ms / 1000 + 60), false);
    assert.equal(list.revoke('x'.repeat(300), clock.ms / 1000 + 60), false);
    assert.equal(list.revoke('nan', Number.NaN), false);
    assert.equal(list.size, 0);
  });

  it('sweep frees every expired entry without lookups', () => {
    const clock = fakeClock();
    const list = new RevocationList({ now: clock.now });
    for (let i = 0; i < 100; i++) list.revoke(`j${i}`, clock.ms / 1000 + (i < 60 ? 10 : 1000));
    clock.ms += 10_000;
    assert.equal(list.sweep(), 60);
    assert.equal(list.size, 40);
  });

  it('stays bounded: expired entries go first, then the oldest revocation, counted', () => {
    const clock = fakeClock();
    const list = new RevocationList({ maxEntries: 3, now: clock.now });
    list.revoke('short', clock.ms / 1000 + 1);
    list.revoke('b', clock.ms / 1000 + 100);
    list.revoke('c', clock.ms / 1000 + 100);
    clock.ms += 2000;
    list.revoke('d', clock.ms / 1000 + 100);
    assert.equal(list.evicted, 0, 'the expired entry made room');
    list.revoke('e', clock.ms / 1000 + 100);
    assert.equal(list.size, 3);
    assert.equal(list.evicted, 1);
    assert.equal(list.isRevoked('b'), false, 'the oldest revocation was evicted');
    assert.deepEqual(
      ['c', 'd', 'e'].map((j) => list.isRevoked(j)),
      [true, true, true],
    );
  });

  it('refuses a bad maxEntries', () => {
    assert.throws(() => new RevocationList({ maxEntries: 0 }), /maxEntries/);
  });
});
