import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clientAddress, compileTrustProxy } from '../src/index.ts';

const xff = (value: string) => ({ 'x-forwarded-for': value });

describe('clientAddress', () => {
  test('trusting no proxy (the default), the peer is the client whatever X-Forwarded-For claims', () => {
    for (const setting of ['', '0', ' 0 ']) {
      const trust = compileTrustProxy(setting);
      assert.equal(clientAddress(xff('203.0.113.7'), '10.0.0.5', trust), '10.0.0.5', JSON.stringify(setting));
      assert.equal(clientAddress({}, '10.0.0.5', trust), '10.0.0.5');
    }
  });

  test('N trusted hops read the N-th entry from the right; entries a client wrote before them are never read', () => {
    const one = compileTrustProxy('1');
    assert.equal(clientAddress(xff('203.0.113.7'), '10.0.0.5', one), '203.0.113.7');
    // The client sent "X-Forwarded-For: 198.51.100.1"; its proxy appended what it saw.
    assert.equal(clientAddress(xff('198.51.100.1, 203.0.113.7'), '10.0.0.5', one), '203.0.113.7');
    const two = compileTrustProxy('2');
    assert.equal(clientAddress(xff('198.51.100.1, 203.0.113.7, 10.0.0.9'), '10.0.0.5', two), '203.0.113.7');
    // Fewer entries than trusted hops: the furthest address known.
    assert.equal(clientAddress(xff('203.0.113.7'), '10.0.0.5', two), '203.0.113.7');
    assert.equal(clientAddress({}, '10.0.0.5', two), '10.0.0.5');
  });

  test('trusted subnets: read past proxies inside them only', () => {
    const trust = compileTrustProxy('loopback, 10.0.0.0/8');
    assert.equal(clientAddress(xff('198.51.100.1, 203.0.113.7, 10.1.2.3'), '127.0.0.1', trust), '203.0.113.7');
    // A peer outside the trusted subnets is the client, whatever it forwards.
    assert.equal(clientAddress(xff('203.0.113.7'), '192.0.2.1', trust), '192.0.2.1');
    assert.equal(clientAddress(xff('203.0.113.7'), '::ffff:127.0.0.1', trust), '203.0.113.7');
  });

  test('hostile forwarded values stay bounded, and an unknown peer gives undefined', () => {
    const trust = compileTrustProxy('1');
    assert.equal(clientAddress(xff(`${'x'.repeat(10_000)}`), '127.0.0.1', trust)?.length, 64);
    assert.equal(clientAddress(xff(''), '127.0.0.1', trust), '127.0.0.1');
    assert.equal(clientAddress(xff('203.0.113.7'), undefined, trust), undefined);
  });

  test('settings that are neither a hop count nor addresses are refused', () => {
    for (const setting of ['yes', '-1', '1.5', '10.0.0.0/99', 'loopback, nonsense'])
      assert.throws(() => compileTrustProxy(setting), TypeError, setting);
  });
});
