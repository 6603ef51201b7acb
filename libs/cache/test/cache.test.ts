import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import { useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { flakyCache, registry } from './support/setup.ts';

const server = useRedisServer();

/** A factory that counts its calls and answers `value` only once `release` is called: callers pile up on it. */
function gatedFactory<T>(value: T): { factory: () => Promise<T>; release: () => void; calls: () => number } {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const factory = async () => {
    calls += 1;
    await gate;
    return value;
  };
  return { factory, release: () => release(), calls: () => calls };
}
let admin: Redis;
before(async () => {
  await server.started;
  admin = new Redis(server.url);
});
after(() => admin.disconnect());

describe('two-level cache on a real redis-server', () => {
  test('set, get from L1, get from L2 on another instance, delete', async () => {
    const a = await flakyCache(server.url);
    const b = await flakyCache(server.url, { name: a.cache.name });
    try {
      await a.cache.set('user:1', { roles: ['admin'] });
      assert.deepEqual(await a.cache.lookup('user:1'), { value: { roles: ['admin'] }, source: 'l1' });
      assert.deepEqual(await b.cache.lookup('user:1'), { value: { roles: ['admin'] }, source: 'l2' });
      assert.equal(await a.cache.delete('user:1'), true);
      assert.deepEqual(await b.cache.lookup('user:1'), { value: undefined, source: 'miss' });
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('write-behinds of one turn go out in one pipeline, and a delete right after still wins in L2', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const before = cache.stats().l2RoundTrips;
      // Three misses resolved in the same turn, as one batched policy answer resolves them:
      // each load waits until all three have started, so their writes queue together
      // whenever the three L2 probes came back.
      let started = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const load = async (key: string) => {
        if (++started === 3) release();
        await gate;
        return { key };
      };
      // Microtasks all run before the flush (setImmediate): the delete below is issued
      // while the three writes are still queued.
      await Promise.all(['w1', 'w2', 'w3'].map((key) => cache.fetch(key, () => load(key))));
      // Not sent yet: the delete must send the queued writes first, or L2 would keep w2.
      assert.equal(await cache.delete('w2'), true);
      await cache.close();
      assert.equal(await admin.exists(`pc:${cache.name}:k:w2`), 0);
      assert.equal(await admin.exists(`pc:${cache.name}:k:w1`), 1);
      assert.equal(await admin.exists(`pc:${cache.name}:k:w3`), 1);
      // Three probes (GETs), one write pipeline, one delete pipeline: not one write pipeline a miss.
      assert.equal(cache.stats().l2RoundTrips - before, 5);
    } finally {
      await close();
    }
  });

  test('getOrSet runs one factory call per key for concurrent callers', async () => {
    const { cache, close } = await flakyCache(server.url, { types: { allow: { ttlMs: 60_000 } } });
    try {
      const { factory, release, calls } = gatedFactory({ decision: 'allow' });
      const all = Array.from({ length: 50 }, () => cache.getOrSet('decision', factory, { type: 'allow' }));
      release();
      const values = await Promise.all(all);
      assert.equal(calls(), 1);
      assert.ok(values.every((v) => v.decision === 'allow'));
      assert.equal(cache.stats().coalesced, 49);
      assert.equal((await cache.fetch('decision', factory, { type: 'allow' })).source, 'l1');
    } finally {
      await close();
    }
  });

  test('TTLs are chosen by operation type', async () => {
    const types = { allow: { ttlMs: 300_000 }, deny: { ttlMs: 30_000, graceMs: 5_000 } };
    const { cache, close } = await flakyCache(server.url, { types });
    try {
      await cache.getOrSet('a', () => 1, { type: 'allow' });
      await cache.getOrSet('d', () => 0, { type: 'deny' });
      const allowTtl = await admin.pttl(`pc:${cache.name}:k:a`);
      const denyTtl = await admin.pttl(`pc:${cache.name}:k:d`);
      assert.ok(allowTtl > 290_000 && allowTtl <= 300_000, String(allowTtl));
      assert.ok(denyTtl > 30_000 && denyTtl <= 35_000, String(denyTtl));
      await assert.rejects(
        cache.getOrSet('t', () => 1, { type: 'tokn' }),
        { code: 'E_CACHE_UNKNOWN_TYPE' },
      );
      // The type can follow from the value, as an allow or deny decision does.
      const typeOf = (value: { decision: string }) => value.decision;
      await cache.getOrSet('v1', () => ({ decision: 'allow' }), { typeOf });
      await cache.getOrSet('v2', () => ({ decision: 'deny' }), { typeOf });
      assert.ok((await admin.pttl(`pc:${cache.name}:k:v1`)) > 290_000);
      const typedDeny = await admin.pttl(`pc:${cache.name}:k:v2`);
      assert.ok(typedDeny > 30_000 && typedDeny <= 35_000, String(typedDeny));
    } finally {
      await close();
    }
  });

  test('storeIf: a value it refuses is answered, to every caller sharing the factory, and stored nowhere', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const { factory, release, calls } = gatedFactory({ belongsHere: false });
      const storeIf = (value: { belongsHere: boolean }) => value.belongsHere;
      const shared = [cache.fetch('elsewhere', factory, { storeIf }), cache.fetch('elsewhere', factory, { storeIf })];
      release();
      assert.deepEqual(await Promise.all(shared), [
        { value: { belongsHere: false }, source: 'miss' },
        { value: { belongsHere: false }, source: 'miss' },
      ]);
      assert.equal(calls(), 1);
      assert.deepEqual(await cache.lookup('elsewhere'), { value: undefined, source: 'miss' });
      assert.equal(await admin.exists(`pc:${cache.name}:k:elsewhere`), 0);
      // An accepted value is stored as usual.
      await cache.fetch('here', () => ({ belongsHere: true }), { storeIf });
      assert.deepEqual(await cache.lookup('here'), { value: { belongsHere: true }, source: 'l1' });
    } finally {
      await close();
    }
  });

  test('getMany and setMany are one round trip for 100 keys', async () => {
    const { cache, flaky, close } = await flakyCache(server.url, { l1MaxEntries: 10 });
    const other = await flakyCache(server.url, { name: cache.name });
    try {
      const keys = Array.from({ length: 100 }, (_v, i) => `k${i}`);
      let before = flaky.roundTrips;
      await cache.setMany(keys.map((key, i) => ({ key, value: i })));
      assert.equal(flaky.roundTrips - before, 1);
      before = other.flaky.roundTrips;
      const values = await other.cache.getMany([...keys, 'absent']);
      assert.equal(other.flaky.roundTrips - before, 1);
      assert.deepEqual(values, [...keys.map((_k, i) => i), undefined]);
    } finally {
      await close();
      await other.close();
    }
  });

  test('namespaces have their own key space and clear alone', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const decisions = cache.namespace('decisions');
      const tokens = cache.namespace('tokens');
      await decisions.set('x', 'd');
      await tokens.set('x', 't');
      await cache.set('x', 'root');
      assert.equal(await decisions.clear(), true);
      assert.equal(await decisions.get('x'), undefined);
      assert.equal(await tokens.get('x'), 't');
      assert.equal(await cache.get('x'), 'root');
      assert.equal(await admin.exists(`pc:${cache.name}:n:decisions:k:x`), 0);
    } finally {
      await close();
    }
  });

  test('tag invalidation drops tagged entries from both tiers', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      await cache.set('p1', 1, { tags: ['principal:alice'] });
      await cache.set('p2', 2, { tags: ['principal:alice', 'policy:v1'] });
      await cache.set('p3', 3, { tags: ['principal:bob'] });
      assert.equal(await cache.invalidateTags(['principal:alice']), true);
      assert.deepEqual(await cache.getMany(['p1', 'p2', 'p3']), [undefined, undefined, 3]);
      assert.equal(await admin.exists(`pc:${cache.name}:k:p2`), 0);
    } finally {
      await close();
    }
  });

  test('a tag in steady use keeps its live keys only (plus a minute of gone ones); invalidating it still drops every live one', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { cache, close } = await flakyCache(server.url, { types: { brief: { ttlMs: 1000, graceMs: 0 } } });
    const tagKey = `pc:${cache.name}:tz:principal:busy`;
    try {
      for (let i = 0; i < 100; i += 1) await cache.set(`old${i}`, i, { tags: ['principal:busy'], type: 'brief' });
      assert.equal(await admin.zcard(tagKey), 100);
      // Two minutes on (this process's clock): those 100 left L2 over a minute ago.
      mock.timers.tick(120_000);
      for (let i = 0; i < 10; i += 1) await cache.set(`new${i}`, i, { tags: ['principal:busy'], type: 'brief' });
      assert.equal(await admin.zcard(tagKey), 10, 'each write drops the members gone for over a minute');
      assert.ok((await admin.pttl(tagKey)) > 0, 'the tag key still expires with its last key');
      assert.equal(await cache.invalidateTags(['principal:busy']), true);
      for (let i = 0; i < 10; i += 1) assert.equal(await admin.exists(`pc:${cache.name}:k:new${i}`), 0, `new${i} dropped from L2`);
      assert.equal(await admin.exists(tagKey), 0);
    } finally {
      mock.timers.reset();
      await close();
    }
  });

  test('an entry is promoted to L1 after repeated L2 hits; one over 10 KiB never', async () => {
    const writer = await flakyCache(server.url);
    const reader = await flakyCache(server.url, { name: writer.cache.name });
    try {
      await writer.cache.set('small', 'v');
      await writer.cache.set('large', 'x'.repeat(12 * 1024));
      assert.equal((await reader.cache.lookup('small')).source, 'l2');
      assert.equal(reader.cache.inspect('small').inL1, false, 'one hit is lukewarm');
      assert.equal((await reader.cache.lookup('small')).source, 'l2');
      assert.equal(reader.cache.inspect('small').inL1, true);
      assert.equal((await reader.cache.lookup('small')).source, 'l1');
      for (let i = 0; i < 5; i += 1) assert.equal((await reader.cache.lookup('large')).source, 'l2');
      assert.equal(reader.cache.inspect('large').inL1, false);
      const stats = reader.cache.stats();
      assert.equal(stats.promotions, 1);
      assert.ok(stats.rejectedTooLarge >= 1);
      assert.ok(stats.score > 0 && stats.score <= 100);
      const metrics = await registry.getSingleMetricAsString('portcullis_cache_promotions_total');
      assert.match(metrics, new RegExp(`cache="${reader.cache.name}"} 1`));
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  test('a new instance warms L1 from the hottest keys recorded in Redis', async () => {
    const first = await flakyCache(server.url);
    try {
      await first.cache.setMany([
        { key: 'hot', value: 1 },
        { key: 'warm', value: 2 },
      ]);
      for (let i = 0; i < 5; i += 1) await first.cache.get('hot');
      await first.cache.flushHotKeys();
    } finally {
      await first.close();
    }
    const second = await flakyCache(server.url, { name: first.cache.name });
    try {
      assert.equal(second.cache.inspect('hot').inL1, true);
      assert.equal((await second.cache.lookup('hot')).source, 'l1');
    } finally {
      await second.close();
    }
  });
});
