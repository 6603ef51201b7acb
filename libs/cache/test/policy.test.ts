import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cache, simulateHitRate } from '../src/index.ts';
import { L1Tier, type Entry } from '../src/l1.ts';
import { FrequencySketch, hashKey } from '../src/sketch.ts';
import { intelligenceScore } from '../src/stats.ts';

const entry = (key: string, size = 64): Entry => ({
  value: key,
  expiresAt: Infinity,
  graceUntil: Infinity,
  tags: [],
  size,
  hash: hashKey(key),
  hits: 0,
});
const tier = (maxEntries = 3) =>
  new L1Tier({
    maxEntries,
    maxBytes: 1 << 20,
    hotEntryBytes: 1024,
    maxEntryBytes: 10 * 1024,
    promoteAfterHits: 2,
    sketchWindowFactor: 128,
  });

describe('frequency sketch', () => {
  test('memory is fixed whatever the number of distinct keys', () => {
    const sketch = new FrequencySketch(1000, 4);
    const bytes = sketch.bytes;
    for (let i = 0; i < 100_000; i += 1) sketch.increment(hashKey(`k${i}`));
    assert.equal(sketch.bytes, bytes);
  });

  test('counts accesses and halves them when the window is full', () => {
    const sketch = new FrequencySketch(10, 10); // window: 100 increments
    const hot = hashKey('hot');
    for (let i = 0; i < 40; i += 1) sketch.increment(hot);
    assert.equal(sketch.estimate(hot), 40);
    for (let i = 0; i < 60; i += 1) sketch.increment(hashKey(`cold${i}`));
    assert.equal(sketch.resets, 1);
    assert.equal(sketch.estimate(hot), 20);
  });
});

describe('L1 placement and admission', () => {
  test('a full L1 admits a candidate only if it is read more often than the LRU victim', () => {
    const l1 = tier(2);
    for (const key of ['a', 'b']) {
      const f = l1.record(hashKey(key));
      l1.record(hashKey(key));
      assert.ok(l1.offer(key, entry(key), f + 1, 'l2hit'));
    }
    const once = l1.record(hashKey('c'));
    assert.equal(l1.offer('c', entry('c'), Math.max(once, 2), 'l2hit'), false);
    assert.equal(l1.counters.rejectedByAdmission, 1);
    for (let i = 0; i < 5; i += 1) l1.record(hashKey('d'));
    assert.ok(l1.offer('d', entry('d'), l1.sketch.estimate(hashKey('d')), 'l2hit'));
    assert.equal(l1.size, 2);
    assert.equal(l1.peek('a'), undefined, 'the LRU victim was demoted');
    assert.equal(l1.counters.demotions, 1);
  });

  test('entries over 10 KiB never enter L1; mid-sized ones need repeated reads', () => {
    const l1 = tier(10);
    assert.equal(l1.offer('big', entry('big', 10 * 1024 + 1), 255, 'write'), false);
    assert.equal(l1.counters.rejectedTooLarge, 1);
    assert.equal(l1.offer('mid', entry('mid', 4096), 1, 'write'), false);
    assert.equal(l1.offer('mid', entry('mid', 4096), 2, 'write'), true);
    assert.equal(l1.offer('small', entry('small'), 0, 'write'), true);
    assert.equal(l1.offer('lukewarm', entry('lukewarm'), 1, 'l2hit'), false, 'one L2 hit does not promote');
  });

  test('on a Zipf stream the policy beats a plain LRU of the same size', () => {
    const keys: string[] = [];
    let seed = 7;
    const weights = Array.from({ length: 2000 }, (_v, i) => 1 / (i + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 50_000; i += 1) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      let u = (seed / 2 ** 32) * total;
      let k = 0;
      while (k < weights.length - 1 && (u -= weights[k] as number) > 0) k += 1;
      keys.push(`k${k}`);
    }
    const smart = simulateHitRate(keys, { maxEntries: 200 });
    let lruHits = 0;
    const lru = new Map<string, true>();
    for (const key of keys) {
      if (lru.delete(key)) lruHits += 1;
      lru.set(key, true);
      if (lru.size > 200) lru.delete(lru.keys().next().value as string);
    }
    assert.ok(smart.hitRate > lruHits / keys.length, `${smart.hitRate} vs ${lruHits / keys.length}`);
  });
});

describe('options and score', () => {
  test('a bad option is a RangeError naming it and its value', () => {
    assert.throws(() => new Cache({ name: 'x', l1Only: true, l1MaxEntries: 0 }), /option l1MaxEntries must be an integer ≥ 1, received 0/);
    assert.throws(
      () => new Cache({ name: 'x', l1Only: true, types: { allow: { ttlMs: -1 } } }),
      /option types\.allow\.ttlMs must be an integer ≥ 1, received -1/,
    );
    assert.throws(() => new Cache({ name: 'bad name', l1Only: true }), /option name/);
    assert.throws(() => new Cache({ name: 'x' }), /option redis must be given, or one of url, l2 or l1Only: true/);
  });

  test('the score follows its documented formula', () => {
    const zero = {
      reads: 0,
      l1Hits: 0,
      l2Hits: 0,
      staleServed: 0,
      usefulAdmissions: 0,
      wastedAdmissions: 0,
      l2Failures: 0,
      l2ShortCircuits: 0,
      l2Calls: 0,
    };
    const base = {
      ...zero,
      misses: 0,
      factoryCalls: 0,
      coalesced: 0,
      writes: 0,
      promotions: 0,
      demotions: 0,
      admitted: 0,
      rejectedTooLarge: 0,
      rejectedLukewarm: 0,
      rejectedByAdmission: 0,
      corruptEntries: 0,
      l2Timeouts: 0,
      l2LocalStalls: 0,
      l2RoundTrips: 0,
      l1Entries: 0,
      l1Bytes: 0,
      sketchBytes: 0,
      l2SkippedFirstSeen: 0,
    };
    assert.equal(intelligenceScore(base), 40);
    // 40×0.5 + 20×0.75 + 20×(3/4) + 20×(1 − 1/4) = 20 + 15 + 15 + 15
    assert.equal(
      intelligenceScore({
        ...base,
        reads: 100,
        l1Hits: 50,
        l2Hits: 25,
        usefulAdmissions: 3,
        wastedAdmissions: 1,
        l2Calls: 4,
        l2Failures: 1,
      }),
      65,
    );
  });
});
