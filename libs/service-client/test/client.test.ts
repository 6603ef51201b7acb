import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { startTracing } from '@portcullis/observability';
import { startOtlpReceiver } from '@portcullis/testing';
import { useFakePolicyServer, behaviours, type Behaviour } from './fake-policy-server.ts';

const { server, client } = useFakePolicyServer();

const req = (principal: string, action = 'view', resourceType = 'Photo') => ({
  principal: { type: 'User', id: principal },
  action: { type: 'Action', id: action },
  resource: { type: resourceType, id: 'a.jpg' },
});

/** A behaviour that holds the request until `release()` is called, then answers. */
function gate(): { behaviour: Behaviour; release: () => void } {
  const held: (() => void)[] = [];
  let open = false;
  return {
    behaviour: (stream, received, n) => {
      if (open) behaviours.answer(stream, received, n);
      else held.push(() => behaviours.answer(stream, received, n));
    },
    release: () => {
      open = true;
      for (const fn of held.splice(0)) fn();
    },
  };
}

describe('batching', () => {
  test('an idle request goes out at once, alone, and gets its own decision', async () => {
    const { client: c, registry } = client();
    const answer = await c.evaluate(req('alice'));
    assert.deepEqual(answer, { decision: 'allow', reasons: ['p-alice'], errors: [], policyVersion: 'v1' });
    assert.equal(server.received.length, 1);
    assert.equal(server.received[0]!.body.requests.length, 1);
    assert.equal(c.stats().roundTrips, 1);
    assert.equal(c.stats().connection.connected, true);
    const text = await registry.metrics();
    assert.match(text, /portcullis_batch_round_trips_total\{target="policy-service"\} 1/);
    assert.match(text, /portcullis_batch_size_count\{target="policy-service"\} 1/);
  });

  test('200 concurrent calls coalesce into few round trips, each answer routed to its caller', async () => {
    const { client: c } = client();
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => c.evaluate(req(`u${i}`, i % 3 === 0 ? 'delete' : 'view'))));
    answers.forEach((a, i) => {
      assert.deepEqual(a.reasons, [`p-u${i}`]);
      assert.equal(a.decision, i % 3 === 0 ? 'deny' : 'allow');
    });
    assert.ok(server.received.length <= 8, `round trips: ${server.received.length}`);
    assert.ok(server.received.every((r) => r.body.requests.length <= 50));
    assert.equal(server.itemsReceived, 200);
    // Items keep their callers' order inside each batch.
    const ids = server.received.flatMap((r) => r.body.requests.map((x: any) => Number(x.principal.id.slice(1))));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
  });

  test('identical requests in one batch are evaluated once (key order does not matter)', async () => {
    const { client: c } = client();
    const swapped = {
      resource: { id: 'a.jpg', type: 'Photo' },
      action: { id: 'view', type: 'Action' },
      principal: { id: 'bob', type: 'User' },
    };
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => c.evaluate(req('bob'))),
      c.evaluate(swapped),
      c.evaluate(req('carol')),
    ]);
    assert.equal(answers.length, 12);
    assert.ok(answers.slice(0, 11).every((a) => a.reasons[0] === 'p-bob'));
    assert.equal(answers[11]!.reasons[0], 'p-carol');
    assert.equal(server.itemsReceived, 2);
    assert.equal(c.stats().coalescedDuplicates, 10);
    answers[0]!.reasons.push('mutated');
    assert.deepEqual(answers[1]!.reasons, ['p-bob'], 'callers get their own copies');
  });

  test('the byte limit splits batches', async () => {
    const { client: c } = client({ maxBatchBytes: 700 });
    const big = (i: number) => ({ ...req(`u${i}`), context: { pad: 'x'.repeat(150) } });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => c.evaluate(big(i))));
    assert.equal(answers.length, 10);
    assert.ok(server.received.length >= 4, `round trips: ${server.received.length}`);
    for (const r of server.received) assert.ok(Buffer.byteLength(JSON.stringify(r.body)) <= 700 || r.body.requests.length === 1);
  });

  test('while a batch is in flight, requests gather until it returns or maxBatch is reached', async () => {
    const held = gate();
    server.reset(held.behaviour);
    const { client: c } = client({ maxWaitMs: 60_000, maxBatch: 3 });
    const firstArrived = once(server, 'request');
    const first = c.evaluate(req('first'));
    await firstArrived;
    // maxBatch 3 sends three at once; the other two wait for the pipe to free up.
    const secondArrived = once(server, 'request');
    const next = Array.from({ length: 5 }, (_, i) => c.evaluate(req(`n${i}`)));
    await secondArrived;
    assert.deepEqual(
      server.received.map((r) => r.body.requests.length),
      [1, 3],
    );
    held.release();
    await Promise.all([first, ...next]);
    assert.deepEqual(
      server.received.map((r) => r.body.requests.length),
      [1, 3, 2],
    );
  });

  test('batching: false sends every call alone', async () => {
    const { client: c } = client({ batching: false });
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.evaluate(req(`u${i % 10}`))));
    assert.equal(server.received.length, 20);
    assert.ok(server.received.every((r) => r.body.requests.length === 1));
  });

  test('with a tracer, a batch is one client span: child of the first caller, linked to the others, sent downstream', async () => {
    const receiver = await startOtlpReceiver();
    const tracing = await startTracing({ serviceName: 'client-test', url: `${receiver.url}/v1/traces`, sampleRatio: 1, exportDelayMs: 10 });
    try {
      const { client: c } = client({ tracer: tracing.tracer });
      const first = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const second = '00-11111111111111111111111111111111-2222222222222222-01';
      await Promise.all([
        c.evaluate(req('a'), { traceparent: first }),
        c.evaluate(req('b'), { traceparent: second }),
        c.evaluate(req('c')),
      ]);
      const sent = server.received[0]!.headers['traceparent'];
      assert.match(String(sent), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      assert.notEqual(sent, first, 'the policy-service sees the batch span, not the caller');
      await tracing.shutdown();
      const [span] = (await receiver.waitFor((spans) => spans.length > 0)).filter((s) => s.name === 'POST /evaluate/batch');
      assert.equal(span?.kind, 3);
      assert.equal(span?.parentSpanId, 'b7ad6b7169203331');
      assert.equal(span?.spanId, String(sent).split('-')[2]);
      assert.deepEqual(span?.links, [{ traceId: '11111111111111111111111111111111', spanId: '2222222222222222' }]);
      assert.equal(span?.attributes['portcullis.batch.items'], 3);
      assert.equal(span?.attributes['portcullis.batch.attempts'], 1);
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  test('the first caller’s traceparent is sent on the batch', async () => {
    const { client: c } = client();
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await Promise.all([
      c.evaluate(req('a')),
      c.evaluate(req('b'), { traceparent: tp }),
      c.evaluate(req('c'), { traceparent: '00-ffffffffffffffffffffffffffffffff-b7ad6b7169203331-01' }),
    ]);
    assert.equal(server.received[0]!.headers['traceparent'], tp);
    await c.evaluate(req('d'), { traceparent: 'bad\r\nx: y' });
    assert.equal(server.received[1]!.headers['traceparent'], undefined, 'a malformed traceparent is dropped');
  });
});

describe('a busy service: the adaptive in-flight limit', () => {
  test('past the limit requests gather, a batch’s worth at most; the next is refused at once with E_POLICY_BUSY, never sent, never a breaker failure', async () => {
    const held = gate();
    server.reset(held.behaviour);
    const { client: c, registry } = client({ maxInFlight: 4, maxBatch: 2, maxWaitMs: 60_000, timeoutMs: 60_000 });
    const requested = new Promise<void>((resolve) => server.on('request', () => server.received.length === 2 && resolve()));
    // Two batches of two fill the limit; e and f gather for the next; g finds no room.
    const queued = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => c.evaluate(req(id)));
    const refused = c.evaluate(req('g'));
    await assert.rejects(refused, { code: 'E_POLICY_BUSY' });
    await requested;
    assert.deepEqual(
      server.received.map((r) => r.body.requests.map((x: any) => x.principal.id)),
      [
        ['a', 'b'],
        ['c', 'd'],
      ],
    );
    assert.equal(c.stats().shed, 1);
    assert.equal(c.stats().queued, 2);
    assert.equal(c.breakerState, 'closed');
    assert.match(await registry.metrics(), /portcullis_circuit_events_total\{target="policy-service",event="shed"\} 1/);
    // A coalescing duplicate needs no room: it rides on the item already gathering.
    const duplicate = c.evaluate(req('e'));
    held.release();
    const answers = await Promise.all([...queued, duplicate]);
    assert.deepEqual(
      answers.map((a) => a.reasons[0]),
      ['p-a', 'p-b', 'p-c', 'p-d', 'p-e', 'p-f', 'p-e'],
    );
    assert.equal(server.itemsReceived, 6, 'g was never sent');
  });

  test('a batch the service does not answer in time lowers the limit (how it climbs back: resilience’s AdaptiveLimit tests)', async () => {
    server.script([behaviours.hang]);
    const { client: c } = client({ maxInFlight: 10, maxBatch: 10, timeoutMs: 200, retries: 0 });
    assert.equal(c.stats().inFlightLimit, 10);
    // Five in one batch: half the limit in use, so the limit is what this batch tests.
    const slow = Array.from({ length: 5 }, (_, i) => c.evaluate(req(`slow${i}`)));
    for (const call of slow) await assert.rejects(call, { code: 'E_DEADLINE_EXCEEDED' });
    // The batcher hears of the failure just after its caller does.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(c.stats().inFlightLimit, 9);
    server.endOpenStreams();
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => c.evaluate(req(`u${i}`))));
    assert.equal(answers.length, 9, 'a lowered limit still lets its fill through');
  });
});
