import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { RedisPubSubInvalidation, type Cache, type InvalidationEvent } from '../src/index.ts';
import { flakyCache } from './support/setup.ts';

const server = useRedisServer();

/** Two instances of one cache, each with its own pub/sub transport. */
async function pair() {
  const name = uniqueId('c');
  const channel = `${name}:invalidate`;
  const publishers = [new Redis(server.url), new Redis(server.url)];
  const transports = publishers.map((redis) => new RedisPubSubInvalidation({ redis, channel }));
  const a = await flakyCache(server.url, { name, invalidation: transports[0] });
  const b = await flakyCache(server.url, { name, invalidation: transports[1] });
  return {
    a: a.cache,
    b: b.cache,
    close: async () => {
      await a.close();
      await b.close();
      for (const redis of publishers) redis.disconnect();
    },
  };
}

describe('cross-instance invalidation over Redis pub/sub', () => {
  test('a delete on one instance drops the L1 entry on the other', async () => {
    const { a, b, close } = await pair();
    try {
      await a.set('k', 'v1');
      await b.get('k');
      await b.get('k');
      assert.equal(b.inspect('k').inL1, true);
      const events = await Promise.all([onceInvalidated(b), a.delete('k')]);
      assert.deepEqual(events[0].keys, [`pc:${a.name}:k:k`]);
      assert.equal(b.inspect('k').inL1, false);
    } finally {
      await close();
    }
  });

  test('a set, a tag invalidation and a namespace clear reach the other instance', async () => {
    const { a, b, close } = await pair();
    try {
      await b.set('x', 'old', { tags: ['t'] });
      await b.namespace('ns').set('y', 'old');
      await Promise.all([onceInvalidated(b), a.set('x', 'new', { tags: ['t'] })]);
      assert.equal(b.inspect('x').inL1, false);
      assert.equal(await b.get('x'), 'new');
      await b.get('x');
      await Promise.all([onceInvalidated(b), a.invalidateTags(['t'])]);
      assert.equal(b.inspect('x').inL1, false);
      assert.equal(await b.get('x'), undefined);
      assert.equal(b.namespace('ns').inspect('y').inL1, true);
      await Promise.all([onceInvalidated(b), a.namespace('ns').clear()]);
      assert.equal(b.namespace('ns').inspect('y').inL1, false);
    } finally {
      await close();
    }
  });

  test('announce: false tells nobody; forgetLocally drops L1 here only, for events every instance gets anyway', async () => {
    const { a, b, close } = await pair();
    try {
      await b.set('x', 'old', { tags: ['t'] });
      const seen: InvalidationEvent[] = [];
      const stop = b.onInvalidation((event) => seen.push(event));
      await a.set('x', 'new', { tags: ['t'], announce: false });
      await a.invalidateTags(['t'], { announce: false });
      // Pub/sub keeps one publisher's order: once this announced delete arrives, anything
      // announced before it would have arrived too.
      await Promise.all([onceInvalidated(b), a.delete('sync')]);
      stop();
      assert.deepEqual(
        seen.map((event) => event.keys),
        [[`pc:${a.name}:k:sync`]],
      );
      assert.equal(b.inspect('x').inL1, true, 'b was not told');
      b.forgetLocally({ tags: ['t'] });
      assert.equal(b.inspect('x').inL1, false);
      assert.equal(await b.get('x'), undefined, 'a invalidated the tag in L2 itself');
      await b.set('y', 'v');
      b.forgetLocally({ keys: ['y'] });
      assert.equal(b.inspect('y').inL1, false);
      assert.equal(await b.get('y'), 'v', 'L2 is left alone');
    } finally {
      await close();
    }
  });
});

function onceInvalidated(cache: Cache): Promise<InvalidationEvent> {
  return new Promise((resolve) => {
    const stop = cache.onInvalidation((event) => {
      stop();
      resolve(event);
    });
  });
}
