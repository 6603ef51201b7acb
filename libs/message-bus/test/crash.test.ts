import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startProcess, uniqueId, useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { count, outcomes, testBus } from './helpers.ts';

const redis = useRedisServer();

test('a consumer killed with SIGKILL mid-batch: every message is processed, none applied twice', async () => {
  const topic = uniqueId('crash');
  const applied = `${topic}:applied`;
  const producer = testBus(redis.url);
  await producer.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, payload: { n }, id: `m${n}` })));
  // The group starts at the beginning of the stream, so the backlog is there to take.
  const victim = await startProcess({
    command: process.execPath,
    args: [fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url))],
    env: { REDIS_URL: redis.url, TOPIC: topic, APPLIED_KEY: applied, GATE_AT: '30' },
    readyWhen: /^ready$/,
  });
  // 30 messages applied and acked, 8 handlers in flight (the concurrency limit), more buffered.
  await victim.waitForLine(/^success m29$/);
  const inFlight = (): number =>
    victim
      .output()
      .split('\n')
      .filter((line) => line.startsWith('stuck ')).length;
  while (inFlight() < 8) await victim.waitForLine(new RegExp(`^stuck m${30 + inFlight()}$`));
  assert.equal(await victim.stop('SIGKILL'), 'SIGKILL');

  const seen = outcomes(topic);
  const effects = new Redis(redis.url);
  const survivor = testBus(redis.url);
  await survivor.subscribe<{ n: number }>(
    topic,
    async (message) => {
      await effects.rpush(applied, String(message.payload.n));
    },
    { mode: 'work', group: 'crash', reclaimIdleMs: 300, reclaimIntervalMs: 50 },
  );
  await seen.until((events) => count(events, 'success') === 70);
  const done = (await effects.lrange(applied, 0, -1)).map(Number).sort((a, b) => a - b);
  assert.deepEqual(
    done,
    Array.from({ length: 100 }, (_, n) => n),
  );
  // The killed consumer's in-flight messages came back as a second attempt.
  assert.ok(seen.events.some((event) => event.attempt === 2));
  seen.stop();
  effects.disconnect();
  await Promise.all([producer.close(), survivor.close()]);
});
