import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { createLogger } from '@portcullis/observability';
import { logLines, startRedisServer, useRedisServer } from '@portcullis/testing';
import type { RedisL2 } from '../src/index.ts';
import { flakyCache, registry } from './support/setup.ts';

const server = useRedisServer();

describe('when Redis fails or stalls', () => {
  test('reads are served from L1 and never throw; the breaker opens and /ready says down', async () => {
    const { cache, flaky, close } = await flakyCache(server.url, { breakerThreshold: 3 });
    try {
      await cache.set('k', 'v');
      flaky.fail();
      assert.deepEqual(await cache.lookup('k'), { value: 'v', source: 'l1' });
      for (let i = 0; i < 3; i += 1) assert.deepEqual(await cache.lookup(`absent${i}`), { value: undefined, source: 'miss' });
      assert.equal(cache.stats().breaker, 'open');
      assert.equal(cache.health().check().status, 'down');
      const callsWhileOpen = flaky.calls;
      assert.equal(await cache.get('absent'), undefined);
      assert.deepEqual(await cache.getMany(['k', 'absent']), ['v', undefined]);
      assert.equal(flaky.calls, callsWhileOpen, 'an open breaker sends nothing to L2');
      await cache.set('k2', 'v2'); // a write while L2 is down lands in L1, does not throw
      assert.equal(await cache.get('k2'), 'v2');
      assert.equal(await cache.delete('k2'), false);
      assert.ok(cache.stats().l2ShortCircuits > 0);
    } finally {
      await close();
    }
  });

  test('failing L2 calls are logged once a window, not once a read; every one is counted', async () => {
    const { lines, destination } = logLines();
    const logger = createLogger({ service: 'cache-test', level: 'warn', destination });
    const { cache, flaky, close } = await flakyCache(server.url, { breakerThreshold: 3, logger });
    try {
      flaky.fail();
      // Failed calls, then calls the open breaker refuses: each used to write a line with a stack.
      for (let i = 0; i < 200; i += 1) assert.equal(await cache.get(`absent${i}`), undefined);
      const failed = lines.filter((line) => line.includes('cache L2 call failed'));
      assert.equal(failed.length, 1, failed.join('\n'));
      assert.equal(JSON.parse(failed[0]!).unloggedSinceLastLine, 0);
      const stats = cache.stats();
      assert.equal(stats.l2Failures + stats.l2ShortCircuits, 200, 'every failure is still counted');
      assert.ok(
        lines.some((line) => line.includes('cache L2 breaker changed state')),
        'the breaker says when it opens',
      );
    } finally {
      await close();
    }
  });

  test('a stalled L2 call times out and the read misses instead of hanging', async () => {
    const { cache, flaky, close } = await flakyCache(server.url, { l2TimeoutMs: 20 });
    // Fake setTimeout: the L2 time limit passes when the test says so, however slow the
    // machine is, so "the answer did not wait for the write" is not a race.
    mock.timers.enable({ apis: ['setTimeout'] });
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    // The cache's start-up read of hot keys had a real 20 ms limit; on a starved machine it
    // may have timed out already. Count from here.
    const before = cache.stats().l2Timeouts;
    try {
      flaky.stall();
      const got = cache.get('nothing');
      await settle();
      mock.timers.tick(20);
      assert.equal(await got, undefined);
      const computed = cache.getOrSet('computed', () => 42);
      await settle();
      mock.timers.tick(20);
      assert.equal(await computed, 42);
      assert.equal(
        cache.stats().l2Timeouts - before,
        2,
        'get and the read of getOrSet timed out; the answer did not wait for the L2 write',
      );
      assert.equal(await cache.get('computed'), 42, 'L1 has the value at once');
      const closing = cache.close();
      await settle();
      mock.timers.tick(20);
      await closing;
      assert.equal(cache.stats().l2Timeouts - before, 3, 'close() waited for the write behind, which timed out instead of hanging');
    } finally {
      mock.timers.reset();
      flaky.heal();
      await close();
    }
  });

  test("a timeout the process's own stall caused fails the read but is not held against Redis", async () => {
    const { cache, flaky, close } = await flakyCache(server.url, { l2TimeoutMs: 20, breakerThreshold: 2 });
    // Busy-waits past the L2 time limit, as a GC pause or a starved CPU would: the event
    // loop cannot read a reply, so the timeout fires first whatever Redis did.
    const stallFor = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    try {
      flaky.stall();
      const before = cache.stats();
      for (let i = 0; i < 3; i += 1) {
        const read = cache.get(`stalled${i}`);
        stallFor(60);
        assert.equal(await read, undefined);
      }
      const after = cache.stats();
      assert.equal(after.l2Timeouts - before.l2Timeouts, 3);
      assert.equal(after.l2LocalStalls - before.l2LocalStalls, 3);
      assert.equal(after.breaker, 'closed', 'three timeouts past a threshold of two, none of them Redis');
      // The same stalled L2 with this process idle: the timeouts are Redis's, and count.
      for (let i = 0; i < 2; i += 1) assert.equal(await cache.get(`idle${i}`), undefined);
      assert.equal(cache.stats().l2LocalStalls - before.l2LocalStalls, 3);
      assert.equal(cache.stats().breaker, 'open');
    } finally {
      flaky.heal();
      await close();
    }
  });

  test('an expired entry is served stale within grace when L2 fails or the factory fails', async () => {
    const { cache, flaky, close } = await flakyCache(server.url, { types: { deny: { ttlMs: 1000, graceMs: 60_000 } } });
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      await cache.set('d', 'deny', { type: 'deny' });
      mock.timers.tick(2000);
      flaky.fail();
      assert.deepEqual(await cache.lookup('d'), { value: 'deny', source: 'stale' });
      assert.deepEqual(await cache.getMany(['d']), ['deny'], 'getMany serves it stale too');
      flaky.heal();
      const failing = () => Promise.reject(new Error('policy-service down'));
      assert.deepEqual(await cache.fetch('d', failing, { type: 'deny' }), { value: 'deny', source: 'stale' });
      mock.timers.tick(60_000);
      await assert.rejects(cache.fetch('d', failing, { type: 'deny' }), { code: 'E_CACHE_FACTORY' });
      assert.equal(cache.stats().staleServed, 3);
      // Every stale answer is also in the metric (getMany's used to be left out).
      const staleMetric = new RegExp(`portcullis_cache_requests_total\\{cache="${cache.name}",level="l1",result="stale"\\} 3`);
      assert.match(await registry.metrics(), staleMetric);
    } finally {
      mock.timers.reset();
      await close();
    }
  });

  test('a real redis-server stop and restart: L1 keeps serving, L2 comes back', async () => {
    const own = await startRedisServer();
    const { cache, flaky, close } = await flakyCache(own.url, { breakerThreshold: 1, breakerResetMs: 10, l2TimeoutMs: 200 });
    try {
      await cache.set('k', 'v');
      await own.stop();
      assert.equal(await cache.get('k'), 'v');
      assert.equal(await cache.get('other'), undefined);
      assert.equal(cache.health().check().status, 'down');
      // Not events.once: it rejects on the ECONNREFUSED 'error' events ioredis emits
      // while it retries against the stopped server, which made this test flaky.
      const client = (flaky.inner as RedisL2).client;
      const reconnected = new Promise((resolve) => client.once('ready', resolve));
      await own.restart();
      await reconnected;
      await cache.set('after', 1); // the trial call closes the breaker
      assert.equal(await cache.get('after'), 1);
      assert.equal(cache.health().check().status, 'up');
    } finally {
      await close();
      await own.close();
    }
  });
});
