import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from '@portcullis/observability';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { PRIORITIES, ShutdownTimeoutError, streamKey, type Priority } from '../src/index.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedis, openRedis } from '@portcullis/redis';
import { readGroups, trimConsumed } from '../src/trim-consumed.ts';
import { count, outcomes, testBus } from './helpers.ts';

describe('priorities, ordering, trimming, shutdown', () => {
  const redis = useRedisServer();
  let raw: Redis;
  before(async () => {
    await redis.started;
    raw = new Redis(redis.url);
  });
  after(() => raw.disconnect());

  test('a backlog across priorities is served by weight, higher first, background never starved', async () => {
    const topic = uniqueId('prio');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    await bus.publishBatch(PRIORITIES.flatMap((priority) => Array.from({ length: 60 }, (_, n) => ({ topic, priority, payload: { n } }))));
    const order: Priority[] = [];
    await bus.subscribe(
      topic,
      (message) => {
        order.push(message.priority);
      },
      { mode: 'work', group: 'g', concurrency: 1, prefetch: 100 },
    );
    await seen.until((events) => count(events, 'success') === 300);
    const first = order.slice(0, 31);
    assert.deepEqual(
      PRIORITIES.map((priority) => first.filter((p) => p === priority).length),
      [16, 8, 4, 2, 1],
    );
    assert.equal(order[0], 'critical');
    const last = PRIORITIES.map((priority) => order.lastIndexOf(priority));
    assert.deepEqual(
      [...last].sort((a, b) => a - b),
      last,
      `last positions ${last.join(',')}`,
    );
    seen.stop();
    await bus.close();
  });

  test('one stream, one consumer, concurrency 1: handled in publish order', async () => {
    const topic = uniqueId('order');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    const got: number[] = [];
    await bus.subscribe<{ n: number }>(
      topic,
      (message) => {
        got.push(message.payload.n);
      },
      { mode: 'work', group: 'g', concurrency: 1 },
    );
    for (let batch = 0; batch < 5; batch += 1) {
      await bus.publishBatch(Array.from({ length: 40 }, (_, n) => ({ topic, payload: { n: batch * 40 + n } })));
    }
    await seen.until((events) => count(events, 'success') === 200);
    assert.deepEqual(
      got,
      Array.from({ length: 200 }, (_, n) => n),
    );
    seen.stop();
    await bus.close();
  });

  test('streams stay bounded under sustained publishing (approximate MAXLEN)', async () => {
    const topic = uniqueId('trim');
    const bus = testBus(redis.url, { trim: { maxLen: 500 } });
    let longest = 0;
    for (let batch = 0; batch < 100; batch += 1) {
      await bus.publishBatch(Array.from({ length: 200 }, (_, n) => ({ topic, payload: { n, pad: 'x'.repeat(200) } })));
      longest = Math.max(longest, Number(await raw.call('XLEN', streamKey(topic, 'normal'))));
    }
    // `~` trims whole radix-tree nodes (100 entries by default), never below maxLen.
    assert.ok(longest >= 500 && longest <= 700, `longest ${longest}`);
    await bus.close();
  });

  test('what every group has handled is trimmed; what any group still needs, or no group has read, stays', async () => {
    const topic = uniqueId('handled');
    const stream = streamKey(topic, 'normal');
    const client = openRedis(redis.url);
    const len = async (): Promise<number> => Number(await raw.call('XLEN', stream));
    const registry = new Registry();
    const bus = testBus(redis.url, { registry });
    /** The value of a bus gauge for this stream (and group `a`), as the subscription last set it. */
    const gauge = async (name: string): Promise<number | undefined> =>
      (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels['stream'] === stream && (v.labels['group'] ?? 'a') === 'a')
        ?.value;
    const gaugeReaches = async (name: string, wanted: (value: number) => boolean): Promise<number | undefined> => {
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(100)) {
        const value = await gauge(name);
        if (value !== undefined && wanted(value)) return value;
      }
      return gauge(name);
    };
    // No group yet: a work group created later reads from the start, so nothing goes.
    await bus.publishBatch(Array.from({ length: 500 }, (_, n) => ({ topic, payload: { n } })));
    assert.equal(await trimConsumed(client, stream, await readGroups(client, stream)), 0);
    assert.equal(await len(), 500);

    // A group that handles everything but the 300th message, which it holds (pending).
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen = outcomes(topic);
    await bus.subscribe<{ n: number }>(topic, (message) => (message.payload.n === 299 ? held : undefined), { mode: 'work', group: 'a' });
    await seen.until((events) => count(events, 'success') === 499);
    // A second group that has read nothing holds the whole stream.
    await raw.call('XGROUP', 'CREATE', stream, 'b', '0');
    assert.equal(await trimConsumed(client, stream, await readGroups(client, stream)), 0);
    await raw.call('XGROUP', 'DESTROY', stream, 'b');
    // Now only group a counts: everything below its pending entry may go, nothing from it on.
    await trimConsumed(client, stream, await readGroups(client, stream));
    const first = ((await raw.call('XRANGE', stream, '-', '+', 'COUNT', 1)) as [string, string[]][])[0]!;
    assert.ok(
      (await len()) >= 201 && (await len()) <= 301,
      `length ${await len()}: entries from the pending one on, and at most a node below`,
    );
    assert.ok(JSON.parse(first[1][1]!).payload.n <= 299, 'the pending entry is still there');

    // The stats read the same XINFO GROUPS: group a's one pending message shows in its gauge.
    assert.equal(await gaugeReaches('portcullis_bus_pending', (value) => value === 1), 1);

    release();
    await seen.until((events) => count(events, 'success') === 500);
    // And the subscription trims on its own (every statsIntervalMs, 200 ms here).
    for (const deadline = Date.now() + 15_000; (await len()) > 100 && Date.now() < deadline;) await sleep(100);
    assert.ok((await len()) <= 100, `length ${await len()} once everything was handled (one node of entries at most)`);
    assert.equal(await gaugeReaches('portcullis_bus_pending', (value) => value === 0), 0);
    assert.ok(
      ((await gaugeReaches('portcullis_bus_stream_length', (value) => value <= 100)) ?? Infinity) <= 100,
      'the length gauge follows',
    );
    seen.stop();
    await bus.close();
    await closeRedis(client);
  });

  test('close() never hangs on a stuck handler and hands its message to another instance', async () => {
    const topic = uniqueId('close');
    const options = { mode: 'work' as const, group: 'g', reclaimIdleMs: 60_000, reclaimIntervalMs: 50 };
    const stuck = testBus(redis.url);
    const seen = outcomes(topic);
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    await stuck.subscribe(
      topic,
      () => {
        started();
        return new Promise<void>(() => undefined);
      },
      options,
    );
    await stuck.publish(topic, { n: 1 }, { id: 'held' });
    await handlerStarted;
    const began = Date.now();
    await assert.rejects(
      stuck.close({ timeoutMs: 200 }),
      (error: unknown) => error instanceof ShutdownTimeoutError && error.code === 'E_SHUTDOWN_TIMEOUT',
    );
    assert.ok(Date.now() - began < 5000);
    // Released with an idle time of reclaimIdleMs: taken at the next reclaim, not in 60 s.
    const other = testBus(redis.url);
    await other.subscribe(topic, () => undefined, options);
    await seen.until((events) => events.some((event) => event.id === 'held' && event.outcome === 'success'));
    seen.stop();
    await other.close();
  });
});
