import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTracing } from '@portcullis/observability';
import { startOtlpReceiver, startRedisServer, uniqueId, type RedisServerHandle } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { deadLetterKey, RetryLaterError, streamKey, type Message } from '../src/index.ts';
import { count, outcomes, testBus } from './helpers.ts';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('message bus on a real redis-server', () => {
  let redis: RedisServerHandle;
  let raw: Redis;
  before(async () => {
    redis = await startRedisServer();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await redis.close();
  });

  test('publish → handle → ack, envelope fields as in PRODUCT.md', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url, { source: 'svc-a' });
    const seen = outcomes(topic);
    const got: Message<{ n: number }>[] = [];
    await bus.subscribe<{ n: number }>(
      topic,
      (message) => {
        got.push(message);
      },
      { mode: 'work', group: 'g' },
    );
    const id = await bus.publish(topic, { n: 1 }, { priority: 'high', id: 'msg-1', traceparent: TRACEPARENT });
    await seen.until((events) => count(events, 'success') === 1);
    assert.equal(id, 'msg-1');
    assert.deepEqual(
      { ...got[0], occurredAt: 'x', entryId: 'y' },
      {
        id: 'msg-1',
        topic,
        priority: 'high',
        occurredAt: 'x',
        source: 'svc-a',
        attempt: 1,
        traceparent: TRACEPARENT,
        payload: { n: 1 },
        entryId: 'y',
      },
    );
    const pending = (await raw.call('XPENDING', streamKey(topic, 'high'), 'g')) as [number];
    assert.equal(Number(pending[0]), 0);
    seen.stop();
    await bus.close();
  });

  test('a subscribe that fails (Redis refuses its group) rejects and leaves no connection behind', async () => {
    const topic = uniqueId('t');
    // A stream key that holds a string: XGROUP CREATE answers WRONGTYPE.
    await raw.set(streamKey(topic, 'normal'), 'not a stream');
    const bus = testBus(redis.url, { source: 'svc-a' });
    try {
      await bus.publish('warm-up-the-command-connection', {}).catch(() => undefined);
      const connections = async (): Promise<number> =>
        String(await raw.call('CLIENT', 'LIST'))
          .trim()
          .split('\n').length;
      const before = await connections();
      for (let i = 0; i < 3; i += 1)
        await assert.rejects(
          bus.subscribe(topic, () => undefined, { mode: 'work', group: 'g' }),
          /WRONGTYPE/,
        );
      assert.equal(await connections(), before, 'each failed subscribe closed the connection it opened for reading');
    } finally {
      await bus.close();
    }
  });

  test('a malformed traceparent is left out of the envelope', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    const got: Message[] = [];
    await bus.subscribe(
      topic,
      (message) => {
        got.push(message);
      },
      { mode: 'work', group: 'g' },
    );
    await bus.publish(topic, {}, { traceparent: '00-abc-def-01\r\nevil' });
    await seen.until((events) => count(events, 'success') === 1);
    assert.equal(got[0]?.traceparent, undefined);
    seen.stop();
    await bus.close();
  });

  test("with a tracer, each message is a consumer span continuing the envelope's trace", async () => {
    const receiver = await startOtlpReceiver();
    const tracing = await startTracing({ serviceName: 'bus-test', url: `${receiver.url}/v1/traces`, sampleRatio: 1, exportDelayMs: 10 });
    const topic = uniqueId('t');
    const bus = testBus(redis.url, { tracer: tracing.tracer });
    const seen = outcomes(topic);
    const got: Message[] = [];
    await bus.subscribe(
      topic,
      (message) => {
        got.push(message);
        if (message.id === 'fails') throw new Error('handler failed');
      },
      { mode: 'work', group: 'g', maxAttempts: 1 },
    );
    await bus.publishBatch([
      { topic, payload: {}, id: 'ok', traceparent: TRACEPARENT },
      { topic, payload: {}, id: 'fails' },
    ]);
    await seen.until((events) => events.length === 2);
    await tracing.shutdown();
    const spans = (await receiver.waitFor((all) => all.length >= 2)).filter((s) => s.name === `process ${topic}`);
    const ok = spans.find((s) => s.attributes['messaging.message.id'] === 'ok');
    const failed = spans.find((s) => s.attributes['messaging.message.id'] === 'fails');
    assert.equal(ok?.kind, 5);
    assert.equal(ok?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(ok?.parentSpanId, 'b7ad6b7169203331');
    assert.equal(ok?.attributes['messaging.consumer.group.name'], 'g');
    assert.equal(
      got.find((m) => m.id === 'ok')?.traceparent,
      `00-${ok?.traceId}-${ok?.spanId}-01`,
      'the handler continues the consumer span',
    );
    assert.equal(failed?.parentSpanId, '', 'no traceparent: a new trace');
    assert.equal(failed?.statusCode, 2);
    seen.stop();
    await bus.close();
    await receiver.close();
  });

  test('a message published twice with one id is applied once', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    let applied = 0;
    await bus.subscribe(
      topic,
      () => {
        applied += 1;
      },
      { mode: 'work', group: 'g', concurrency: 1 },
    );
    await bus.publish(topic, { v: 1 }, { id: 'same' });
    await seen.until((events) => count(events, 'success') === 1);
    await bus.publish(topic, { v: 1 }, { id: 'same' });
    await seen.until((events) => count(events, 'duplicate') === 1);
    assert.equal(applied, 1);
    seen.stop();
    await bus.close();
  });

  test('work mode shares messages; broadcast gives every instance every message', async () => {
    const topic = uniqueId('t');
    const [a, b, producer] = [testBus(redis.url), testBus(redis.url), testBus(redis.url)];
    const seen = outcomes(topic);
    const work = { a: 0, b: 0 };
    const broadcast = { a: 0, b: 0 };
    await a.subscribe(
      topic,
      () => {
        work.a += 1;
      },
      { mode: 'work', group: 'svc' },
    );
    await b.subscribe(
      topic,
      () => {
        work.b += 1;
      },
      { mode: 'work', group: 'svc' },
    );
    await a.subscribe(
      topic,
      () => {
        broadcast.a += 1;
      },
      { mode: 'broadcast', group: 'all' },
    );
    await b.subscribe(
      topic,
      () => {
        broadcast.b += 1;
      },
      { mode: 'broadcast', group: 'all' },
    );
    await producer.publishBatch(Array.from({ length: 200 }, (_, n) => ({ topic, payload: { n } })));
    await seen.until((events) => count(events, 'success') === 600);
    assert.equal(work.a + work.b, 200);
    assert.deepEqual(broadcast, { a: 200, b: 200 });
    seen.stop();
    await Promise.all([a.close(), b.close(), producer.close()]);
    // Broadcast groups are per instance and go away with it.
    const groups = (await raw.call('XINFO', 'GROUPS', streamKey(topic, 'normal'))) as unknown[];
    assert.equal(groups.length, 1);
  });

  test('a poison message is dead-lettered after exactly maxAttempts, then replayed', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    const calls = new Map<string, number>();
    let healed = false;
    await bus.subscribe(
      topic,
      (message) => {
        calls.set(message.id, (calls.get(message.id) ?? 0) + 1);
        if (!healed) throw new Error('boom');
      },
      { mode: 'work', group: 'g', maxAttempts: 3, backoffBaseMs: 5, backoffMaxMs: 20 },
    );
    await bus.publish(topic, { bad: true }, { id: 'poison' });
    await seen.until((events) => count(events, 'dead_letter') === 1);
    assert.equal(calls.get('poison'), 3);
    assert.equal(count(seen.events, 'retry'), 2);
    const [letter] = await bus.deadLetters.list(topic);
    assert.ok(letter);
    assert.equal(letter.reason, 'E_MAX_ATTEMPTS');
    assert.equal(letter.error, 'boom');
    assert.equal(letter.attempts, 3);
    healed = true;
    await bus.deadLetters.replay(topic, letter.deadLetterId);
    await seen.until((events) => count(events, 'success') === 1);
    assert.equal(calls.get('poison'), 4);
    assert.equal(await bus.deadLetters.size(topic), 0);
    seen.stop();
    await bus.close();
  });

  test('a handler that throws RetryLaterError (a dependency at fault, not the message) is retried past maxAttempts, never dead-lettered', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    let calls = 0;
    await bus.subscribe(
      topic,
      () => {
        calls += 1;
        if (calls <= 6) throw new RetryLaterError('Redis refuses writes for now');
      },
      { mode: 'work', group: 'g', maxAttempts: 2, backoffBaseMs: 5, backoffMaxMs: 20 },
    );
    await bus.publish(topic, {}, { id: 'waits-out-an-outage' });
    await seen.until((events) => count(events, 'success') === 1);
    assert.equal(calls, 7);
    assert.equal(count(seen.events, 'retry'), 6);
    assert.equal(count(seen.events, 'dead_letter'), 0);
    assert.equal(await bus.deadLetters.size(topic), 0);
    seen.stop();
    await bus.close();
  });

  test('parse hook failure dead-letters with E_INVALID_PAYLOAD without retry', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    let handled = 0;
    await bus.subscribe<{ n: number }>(
      topic,
      () => {
        handled += 1;
      },
      {
        mode: 'work',
        group: 'g',
        parse: (payload) => {
          if (typeof (payload as { n?: unknown }).n !== 'number') throw new TypeError('n must be a number');
          return payload as { n: number };
        },
      },
    );
    await bus.publish(topic, { n: 'x' });
    await bus.publish(topic, { n: 2 });
    await seen.until((events) => events.length === 2);
    assert.equal(handled, 1);
    const [letter] = await bus.deadLetters.list(topic);
    assert.equal(letter?.reason, 'E_INVALID_PAYLOAD');
    assert.equal(letter?.attempts, 1);
    seen.stop();
    await bus.close();
  });

  test('hand-written malformed entries are dead-lettered with a reason; the consumer keeps going', async () => {
    const topic = uniqueId('t');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    const good: unknown[] = [];
    await bus.subscribe(
      topic,
      (message) => {
        good.push(message.payload);
      },
      { mode: 'work', group: 'g' },
    );
    const key = streamKey(topic, 'normal');
    // As an operator would with redis-cli: XADD by hand.
    await raw.call('XADD', key, '*', 'hello', 'world');
    await raw.call('XADD', key, '*', 'm', '{not json');
    await raw.call('XADD', key, '*', 'm', JSON.stringify({ id: 'x', type: topic, priority: 'urgent', payload: 1 }));
    await raw.call('XADD', key, '*', 'm', '[]');
    await bus.publish(topic, { ok: true });
    await seen.until((events) => events.length === 5);
    assert.deepEqual(good, [{ ok: true }]);
    const letters = await bus.deadLetters.list(topic);
    assert.deepEqual(
      letters.map((letter) => letter.reason),
      Array(4).fill('E_MALFORMED_ENTRY'),
    );
    assert.match(letters[0]?.error ?? '', /no "m" field/);
    assert.match(letters[1]?.error ?? '', /not valid JSON/);
    assert.match(letters[2]?.error ?? '', /invalid priority, occurredAt, source, attempt/);
    assert.equal(letters[1]?.message, '{not json');
    assert.equal(Number(await raw.call('XLEN', deadLetterKey(topic))), 4);
    seen.stop();
    await bus.close();
  });
});
