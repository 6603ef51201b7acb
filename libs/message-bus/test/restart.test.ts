import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedisServer, uniqueId, useRedisServer } from '@portcullis/testing';
import { Registry, type Logger } from '@portcullis/observability';
import { MessageBus } from '../src/index.ts';
import { count, outcomes } from './helpers.ts';

const redis = useRedisServer();

// A consumer that never resumes is a failure, not a hang.
test('Redis restarted under a running consumer: groups recreated, no NOGROUP loop, delivery resumes', { timeout: 60_000 }, async () => {
  const topic = uniqueId('restart');
  const warnings: string[] = [];
  const logger = {
    warn: (_: unknown, message: string) => {
      warnings.push(message);
    },
    info: () => undefined,
  } as unknown as Logger;
  const bus = new MessageBus({ redis: redis.url, registry: new Registry(), logger });
  const health = bus.healthCheck();
  const seen = outcomes(topic);
  await bus.subscribe(topic, () => undefined, { mode: 'work', group: 'g' });
  await bus.publishBatch(Array.from({ length: 5 }, (_, n) => ({ topic, payload: { n } })));
  await seen.until((events) => count(events, 'success') === 5);
  assert.equal(health.check().status, 'up');

  await redis.restart();
  await bus.publishBatch(Array.from({ length: 5 }, (_, n) => ({ topic, payload: { n: n + 5 } })));
  await seen.until((events) => count(events, 'success') === 10);
  assert.equal(health.check().status, 'up');
  const recreations = warnings.filter((message) => message === 'bus group lost, recreating').length;
  assert.ok(recreations >= 1 && recreations <= 3, `group recreated ${recreations} times`);
  seen.stop();
  await bus.close();
  assert.equal(health.check().status, 'down');
});

test('regression: close() with Redis gone resolves instead of waiting out reconnect retries', async () => {
  const redis = await startRedisServer();
  const bus = new MessageBus({ redis: redis.url, source: 'close-test' });
  try {
    await bus.subscribe('gone.topic', async () => undefined, { mode: 'broadcast', group: 'close-test' });
    await bus.subscribe('gone.work', async () => undefined, { mode: 'work', group: 'close-test' });
    await redis.stop();
    // No handler was running, so a clean close resolves (no ShutdownTimeoutError).
    await bus.close({ timeoutMs: 5000 });
    assert.equal(bus.healthCheck().check().status, 'down');
  } finally {
    await redis.close();
  }
});
