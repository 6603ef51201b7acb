import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedisCluster, uniqueId, type RedisClusterHandle } from '@portcullis/testing';
import { Cluster } from 'ioredis';
import { createCache, RedisPubSubInvalidation, type Cache, type InvalidationEvent } from '../src/index.ts';
import { keySlot } from '../src/slot.ts';
import { registry } from './support/setup.ts';

// One 3-master cluster for the whole file: starting one costs seconds.
let cluster: RedisClusterHandle;
const clients: Cluster[] = [];
before(async () => {
  cluster = await startRedisCluster(3);
});
after(async () => {
  for (const client of clients) client.disconnect();
  await cluster.close();
});

async function clusterCache(name = uniqueId('c'), withBus = false): Promise<Cache> {
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  clients.push(client);
  await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  const invalidation = withBus ? new RedisPubSubInvalidation({ redis: client, channel: `${name}:inv` }) : undefined;
  return createCache({ name, redis: client, registry, l1MaxEntries: 16, ...(invalidation ? { invalidation } : {}) });
}

describe('on a 3-master Redis Cluster', () => {
  test('getMany/setMany of keys on every master: one pipeline per node, all values back', async () => {
    const a = await clusterCache();
    const b = await clusterCache(a.name);
    try {
      const keys = Array.from({ length: 200 }, (_v, i) => `key-${i}`);
      const slots = new Set(keys.map((key) => keySlot(`pc:${a.name}:k:${key}`) >> 12));
      assert.ok(slots.size > 1, 'the keys spread over the slot space');
      let before = a.stats().l2RoundTrips;
      await a.setMany(keys.map((key, i) => ({ key, value: { i } })));
      assert.ok(a.stats().l2RoundTrips - before <= 3);
      before = b.stats().l2RoundTrips;
      const values = await b.getMany(keys);
      assert.ok(b.stats().l2RoundTrips - before <= 3, 'at most one round trip per master');
      assert.deepEqual(
        values,
        keys.map((_k, i) => ({ i })),
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('tags, clear and cross-instance invalidation work across masters', async () => {
    const name = uniqueId('c');
    const a = await clusterCache(name, true);
    const b = await clusterCache(name, true);
    try {
      await a.setMany(Array.from({ length: 30 }, (_v, i) => ({ key: `t${i}`, value: i, tags: [i % 2 === 0 ? 'even' : 'odd'] })));
      await b.get('t1');
      await b.get('t1');
      assert.equal(b.inspect('t1').inL1, true);
      // The tag event: the setMany's own key events may still be arriving on a slow machine.
      const seen = new Promise<InvalidationEvent>((resolve) => {
        const stop = b.onInvalidation((event) => {
          if (event.tags === undefined) return;
          stop();
          resolve(event);
        });
      });
      assert.equal(await a.invalidateTags(['odd']), true);
      assert.deepEqual((await seen).tags, ['odd']);
      assert.equal(b.inspect('t1').inL1, false);
      const values = await b.getMany(['t0', 't1', 't2', 't3']);
      assert.deepEqual(values, [0, undefined, 2, undefined]);
      assert.equal(await a.clear(), true);
      assert.deepEqual(await b.getMany(['t0', 't2']), [undefined, undefined]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
