import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TOPICS } from '@portcullis/contracts';
import { deadLetterKey, streamKey } from '@portcullis/message-bus';
import { closeRedis, openRedis } from '@portcullis/redis';
import { useRedisServer } from '@portcullis/testing';
import { whereLost } from '../src/chaos/lost.ts';

const topic = TOPICS.authDecision.topic;
const envelope = (...ids: string[]): string => JSON.stringify({ payload: ids.map((requestId) => ({ requestId })) });

describe('chaos: where lost audit events are', () => {
  const server = useRedisServer();

  test('dead-lettered, pending, undelivered, acked without a record, or not in the stream', async () => {
    const redis = openRedis(server.url);
    try {
      const key = streamKey(topic, 'normal');
      await redis.xadd(key, '*', 'e', envelope('acked', 'recorded'));
      await redis.xadd(key, '*', 'e', envelope('pending'));
      await redis.xgroup('CREATE', key, 'policy-service', '0');
      // The audit group reads both, acks the first and holds the second.
      const read = (await redis.xreadgroup('GROUP', 'policy-service', 'c1', 'COUNT', 2, 'STREAMS', key, '>')) as [
        string,
        [string, string[]][],
      ][];
      const [first] = read[0]?.[1] ?? [];
      await redis.xack(key, 'policy-service', (first as [string, string[]])[0]);
      await redis.xadd(key, '*', 'e', envelope('undelivered'));
      await redis.xadd(deadLetterKey(topic), '*', 'e', envelope('dead'), 'reason', 'E_MAX_ATTEMPTS');

      const lost = new Set(['acked', 'pending', 'undelivered', 'dead', 'never-sent']);
      assert.deepEqual(await whereLost(server.url, lost), {
        deadLettered: 1,
        pending: 1,
        undelivered: 1,
        ackedWithoutRecord: 1,
        notInStream: 1,
      });
      assert.deepEqual(await whereLost(server.url, new Set()), {
        deadLettered: 0,
        pending: 0,
        undelivered: 0,
        ackedWithoutRecord: 0,
        notInStream: 0,
      });
    } finally {
      await closeRedis(redis);
    }
  });
});
