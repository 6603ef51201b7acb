// `firstSeenL2: 'learn'`: keys this process has never seen skip L2 while such keys do not
// hit there, and are written to L2 once asked again (issue 11). The learner is tested
// alone with exact counts, the cache on a real redis-server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { FirstSeenAdmission, MIN_PROBES, SAMPLE_EVERY } from '../src/l2-admission.ts';
import { flakyCache } from './support/setup.ts';

describe('FirstSeenAdmission', () => {
  test('probes every first-seen key until it has seen enough of them miss, then one in SAMPLE_EVERY', () => {
    const admission = new FirstSeenAdmission(true);
    for (let i = 0; i < MIN_PROBES; i++) {
      assert.equal(admission.shouldProbe(), true, `probe ${i} while learning`);
      admission.observe(false);
    }
    const decisions = Array.from({ length: SAMPLE_EVERY * 4 }, () => admission.shouldProbe());
    assert.equal(decisions.filter(Boolean).length, 4, 'one sampled probe per SAMPLE_EVERY');
    assert.equal(admission.skipped, SAMPLE_EVERY * 4 - 4);
  });

  test('goes back to probing every key once sampled probes hit often enough', () => {
    const admission = new FirstSeenAdmission(true);
    for (let i = 0; i < MIN_PROBES; i++) admission.observe(false);
    assert.equal(admission.shouldProbe(), false);
    // Keys become shared between instances: the samples hit.
    for (let i = 0; i < 10; i++) admission.observe(true);
    assert.equal(admission.shouldProbe(), true);
    assert.equal(admission.shouldProbe(), true);
  });

  test('`always` never skips, whatever it observes', () => {
    const admission = new FirstSeenAdmission(false);
    for (let i = 0; i < 10 * MIN_PROBES; i++) admission.observe(false);
    assert.ok(Array.from({ length: 100 }, () => admission.shouldProbe()).every(Boolean));
    assert.equal(admission.skipped, 0);
  });
});

describe("a cache with firstSeenL2: 'learn' on a real redis-server", () => {
  const server = useRedisServer();
  let admin: Redis;
  before(async () => {
    await server.started;
    admin = new Redis(server.url);
  });
  after(() => admin.disconnect());

  const keysOf = async (name: string): Promise<number> => (await admin.keys(`pc:${name}:k:*`)).length;

  test('unique keys stop costing L2 round trips; a key asked again is written to L2 then, and another instance reads it there', async () => {
    const a = await flakyCache(server.url, { firstSeenL2: 'learn' });
    const b = await flakyCache(server.url, { name: a.cache.name, firstSeenL2: 'learn' });
    try {
      const unique = 400;
      for (let i = 0; i < unique; i++) await a.cache.fetch(`u:${i}`, () => ({ i }));
      const stats = a.cache.stats();
      // The first MIN_PROBES were probed and written; after that one in SAMPLE_EVERY.
      assert.ok(stats.l2SkippedFirstSeen >= unique - MIN_PROBES - unique / SAMPLE_EVERY - 1, JSON.stringify(stats));
      // Every value was still answered from its load, and kept in L1.
      assert.deepEqual(await a.cache.lookup('u:399'), { value: { i: 399 }, source: 'l1' });
      // That L1 hit was the key's second ask: now it is in L2 too, where b finds it. (Any
      // L2 call sends the queued write-behinds first, on the same connection.)
      await a.cache.getMany(['absent']);
      assert.equal(await admin.exists(`pc:${a.cache.name}:k:u:399`), 1);
      assert.deepEqual(await b.cache.lookup('u:399'), { value: { i: 399 }, source: 'l2' });
      const written = await keysOf(a.cache.name);
      assert.ok(written < unique / 2, `only probed keys and asked-again keys reach Redis: ${written} of ${unique}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("the default, 'always', writes every load to L2", async () => {
    const a = await flakyCache(server.url);
    try {
      for (let i = 0; i < 200; i++) await a.cache.fetch(`v:${i}`, () => ({ i }));
      await a.cache.close();
      assert.equal(await keysOf(a.cache.name), 200);
      assert.equal(a.cache.stats().l2SkippedFirstSeen, 0);
    } finally {
      await a.close();
    }
  });
});
