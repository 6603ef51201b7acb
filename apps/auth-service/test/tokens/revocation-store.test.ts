import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@portcullis/observability';
import { closeRedis, openRedis } from '@portcullis/redis';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { NotReplicatedError } from '@portcullis/redis';
import { loadRevocations, resyncRevocations, RevocationList, RevocationsUnknownError, RevocationStore } from '../../src/tokens/index.ts';

const log = createLogger({ service: 'revocation-store-test', level: 'silent' });
const nowSec = (): number => Math.floor(Date.now() / 1000);

describe('RevocationStore on a real redis-server', () => {
  const server = useRedisServer();

  test('what is added is loaded by a later process: the later exp wins, expired ones are trimmed and never loaded', async () => {
    const redis = openRedis(server.url);
    const key = uniqueId('revoked');
    try {
      const store = new RevocationStore(redis, { key });
      // One clock reading: the assertion below must not straddle a second boundary.
      const now = nowSec();
      await redis.zadd(key, now - 10, 'expired');
      await store.add('a', now + 60);
      await store.add('a', now + 30); // an earlier exp does not shorten it
      await store.add('b', now + 120);
      assert.equal(await redis.zscore(key, 'expired'), null, 'trimmed on write');

      const list = new RevocationList({ loaded: false });
      assert.equal(await loadRevocations(new RevocationStore(redis, { key }), list, log, new AbortController().signal), true);
      assert.equal(list.loaded, true);
      assert.equal(list.isRevoked('a'), true);
      assert.equal(list.isRevoked('b'), true);
      assert.equal(list.isRevoked('expired'), false);
      assert.equal(Number(await redis.zscore(key, 'a')), now + 60);
    } finally {
      await closeRedis(redis);
    }
  });

  test('a token past exp but within the clock tolerance is still accepted, so its revocation is kept and loaded', async () => {
    const redis = openRedis(server.url);
    const key = uniqueId('revoked');
    try {
      const store = new RevocationStore(redis, { key, toleranceSec: 30 });
      const now = nowSec();
      await redis.zadd(key, now - 10, 'in-tolerance');
      await redis.zadd(key, now - 60, 'past-tolerance');
      await store.add('fresh', now + 60);
      assert.notEqual(await redis.zscore(key, 'in-tolerance'), null, 'kept by the trim');
      assert.equal(await redis.zscore(key, 'past-tolerance'), null, 'trimmed');
      const list = new RevocationList({ loaded: false, toleranceSec: 30 });
      await loadRevocations(store, list, log, new AbortController().signal);
      assert.deepEqual(
        ['fresh', 'in-tolerance', 'past-tolerance'].map((jti) => list.isRevoked(jti)),
        [true, true, false],
      );
    } finally {
      await closeRedis(redis);
    }
  });

  test('add gives up at its deadline while Redis is away (its client would hold the command ~15 s)', async () => {
    const redis = openRedis('redis://127.0.0.1:1');
    try {
      await assert.rejects(new RevocationStore(redis, { key: uniqueId('revoked') }).add('a', nowSec() + 60, 200), /within 200 ms/);
    } finally {
      redis.disconnect();
    }
  });

  test('with replicas asked for, add fails when none holds the revocation (a master could lose it)', async () => {
    const redis = openRedis(server.url);
    try {
      // A lone redis-server has no replica: WAIT 1 answers 0 after its second.
      const store = new RevocationStore(redis, { key: uniqueId('revoked'), replicas: 1 });
      await assert.rejects(store.add('a', nowSec() + 60, 5000), NotReplicatedError);
    } finally {
      await closeRedis(redis);
    }
  });

  test('resync brings in what reached the store but no event (a revocation whose publish failed), and reads the set only after a change', async () => {
    const redis = openRedis(server.url);
    const stop = new AbortController();
    try {
      const store = new RevocationStore(redis, { key: uniqueId('revoked') });
      const list = new RevocationList();
      let loads = 0;
      let polls = 0;
      // Checked after each poll and load: resolves once `condition` holds.
      let check: (() => void) | undefined;
      const next = (condition: () => boolean): Promise<void> =>
        new Promise((resolve) => {
          check = () => {
            if (!condition()) return;
            check = undefined;
            resolve();
          };
        });
      const watched = {
        version: async () => {
          const version = await store.version();
          polls += 1;
          check?.();
          return version;
        },
        load: async (revoke: (jti: string, exp: number) => unknown) => {
          const count = await store.load(revoke);
          loads += 1;
          check?.();
          return count;
        },
      };
      const running = resyncRevocations(watched, list, log, stop.signal, 10);
      await next(() => polls >= 4);
      assert.equal(loads, 1, 'the set is read once, then only its version while nothing changes');
      await store.add('missed', nowSec() + 60);
      await next(() => loads >= 2);
      assert.equal(list.isRevoked('missed'), true);
      stop.abort();
      await running; // ends at once when stopped
    } finally {
      stop.abort();
      await closeRedis(redis);
    }
  });

  test('loading keeps trying while the store refuses, the list refusing every token meanwhile; stop ends it', async () => {
    const list = new RevocationList({ loaded: false });
    let attempts = 0;
    const flaky = {
      load: async (revoke: (jti: string, exp: number) => unknown) => {
        attempts += 1;
        if (attempts < 3) {
          assert.throws(() => list.isRevoked('x'), RevocationsUnknownError, 'refusing while not loaded');
          throw new Error('Redis is away');
        }
        revoke('a', nowSec() + 60);
        return 1;
      },
    } as unknown as RevocationStore;
    assert.equal(await loadRevocations(flaky, list, log, new AbortController().signal), true);
    assert.equal(attempts, 3);
    assert.equal(list.isRevoked('a'), true);

    const stopped = new AbortController();
    stopped.abort();
    assert.equal(await loadRevocations(flaky, new RevocationList({ loaded: false }), log, stopped.signal), false);
  });
});
