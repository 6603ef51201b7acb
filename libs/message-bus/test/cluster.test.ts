import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedisCluster, uniqueId, type RedisClusterHandle } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { deadLetterKey, streamKey, PRIORITIES } from '../src/index.ts';
import { count, outcomes, testBus } from './helpers.ts';

let cluster: RedisClusterHandle;
before(async () => {
  cluster = await startRedisCluster(3);
});
after(async () => {
  await cluster.close();
});

test('Redis Cluster: a topic lives on one shard; batches across topics, priorities and retries work', async () => {
  const topics = [uniqueId('ca'), uniqueId('cb'), uniqueId('cc')];
  const bus = testBus(cluster.url);
  const seen = topics.map((topic) => outcomes(topic));
  const failedOnce = new Set<string>();
  for (const topic of topics) {
    await bus.subscribe(
      topic,
      (message) => {
        if (message.id.endsWith('-0') && !failedOnce.has(message.id)) {
          failedOnce.add(message.id);
          throw new Error('first try fails');
        }
      },
      { mode: 'work', group: 'g', backoffBaseMs: 5 },
    );
  }
  await bus.publishBatch(
    topics.flatMap((topic) => PRIORITIES.map((priority, n) => ({ topic, priority, payload: {}, id: `${topic}-${n}` }))),
  );
  for (const watcher of seen) await watcher.until((events) => count(events, 'success') === PRIORITIES.length);
  assert.equal(failedOnce.size, topics.length);
  const node = cluster.nodes[0];
  const raw = new Redis({ host: node?.host, port: node?.port });
  for (const topic of topics) {
    const slots = new Set(
      await Promise.all(
        [...PRIORITIES.map((p) => streamKey(topic, p)), deadLetterKey(topic)].map((key) => raw.call('CLUSTER', 'KEYSLOT', key)),
      ),
    );
    assert.equal(slots.size, 1);
  }
  raw.disconnect();
  for (const watcher of seen) watcher.stop();
  await bus.close();
});
