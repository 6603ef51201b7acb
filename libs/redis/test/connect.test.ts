import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { startRedisServer, useRedisServer } from '@portcullis/testing';
import { closeRedis, duplicateRedis, openRedis, redisErrorCode, type RedisClient } from '../src/index.ts';

const ready = async (client: RedisClient): Promise<void> => {
  if (client.status !== 'ready') await once(client, 'ready');
};

it('closing while Redis is gone (reconnects failing) resolves instead of waiting out the retries', async () => {
  const server = await startRedisServer();
  const client = openRedis(server.url);
  await ready(client);
  await server.close();
  await closeRedis(client, 200);
  // ioredis leaves a client closed between reconnects in 'reconnecting', with its retry
  // timer cleared: no socket and no further attempt. Either way it is not usable.
  assert.ok(['end', 'reconnecting'].includes(client.status), client.status);
});

describe('openRedis, duplicateRedis, closeRedis', () => {
  // A password proves a duplicate carries the credentials of the client it came from.
  const redis = useRedisServer({ args: ['--requirepass', 's3cret'] });
  const url = (): string => redis.url.replace('redis://', 'redis://:s3cret@');

  it('a command connection answers, and closing it twice is harmless', async () => {
    const client = openRedis(url());
    assert.equal(await client.ping(), 'PONG');
    await closeRedis(client);
    assert.equal(client.status, 'end');
    await closeRedis(client);
  });

  it('a blocking duplicate holds its read while the shared connection keeps answering', async () => {
    const shared = openRedis(url());
    const blocking = duplicateRedis(shared, 'blocking');
    await ready(blocking);
    const read = blocking.blpop('connect-test:list', 5);
    // The shared connection is not stuck behind the blocking read.
    assert.equal(await shared.rpush('connect-test:list', 'x'), 1);
    assert.deepEqual(await read, ['connect-test:list', 'x']);
    await Promise.all([closeRedis(blocking), closeRedis(shared)]);
  });

  it('a subscriber duplicate receives what the shared connection publishes', async () => {
    const shared = openRedis(url());
    const subscriber = duplicateRedis(shared, 'subscriber');
    await subscriber.subscribe('connect-test:channel');
    const message = once(subscriber, 'message');
    await shared.publish('connect-test:channel', 'hello');
    assert.deepEqual(await message, ['connect-test:channel', 'hello']);
    await Promise.all([closeRedis(subscriber), closeRedis(shared)]);
  });

  it('wrong credentials fail the command with the Redis error code, not a hang', async () => {
    const client = openRedis(redis.url.replace('redis://', 'redis://:wrong@'));
    const error = await client.ping().catch((caught: unknown) => caught);
    assert.ok(error instanceof Error);
    assert.match(String(redisErrorCode(error)), /^(WRONGPASS|NOAUTH)$/);
    await closeRedis(client);
  });

  it('closing a connection to a peer that never answers returns within its timeout', async () => {
    // A frozen Redis (SIGSTOP) accepts the connection and says nothing; so does this.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const client = openRedis(`redis://127.0.0.1:${port}`);
    await once(client, 'connect');
    await closeRedis(client, 100);
    assert.notEqual(client.status, 'ready');
    // Once the peer lets go, the connection ends for good: it does not reconnect.
    const ended = client.status === 'end' ? Promise.resolve() : once(client, 'end');
    for (const socket of sockets) socket.destroy();
    await ended;
    assert.equal(client.status, 'end');
    silent.close();
  });
});

it('redisErrorCode reads only Redis-style errors', () => {
  assert.equal(redisErrorCode(new Error('BUSYGROUP Consumer Group name already exists')), 'BUSYGROUP');
  assert.equal(redisErrorCode(new Error('connection lost')), undefined);
  assert.equal(redisErrorCode('NOGROUP x'), undefined);
});
