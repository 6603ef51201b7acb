import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NotReplicatedError } from '@portcullis/redis';
import { startRedisCluster, uniqueId, type RedisClusterHandle } from '@portcullis/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { PublishError, streamKey } from '../src/index.ts';
import { count, outcomes, testBus } from './helpers.ts';

// A real Cluster with a replica per master: publishReplicas must make a publish wait for
// the replica of the stream's master, on the node the Cluster client routed the write to.
let cluster: RedisClusterHandle;
before(async () => {
  cluster = await startRedisCluster(3, { replicas: 1 });
});
after(async () => {
  await cluster.close();
});

test('publishReplicas: a publish resolves once a replica holds it, and rejects while none acknowledges', async () => {
  const topic = uniqueId('replicated');
  const bus = testBus(cluster.url, { publishReplicas: 1 });
  const seen = outcomes(topic);
  try {
    await bus.subscribe(topic, () => undefined, { mode: 'work', group: 'g' });
    // A lone message and a batch across priorities both wait (the lone one skips auto-pipelining).
    await bus.publish(topic, { n: 0 }, { id: 'm0' });
    await bus.publishBatch([
      { topic, payload: { n: 1 }, id: 'm1', priority: 'high' },
      { topic, payload: { n: 2 }, id: 'm2', priority: 'low' },
    ]);

    const thaw = await cluster.freezeReplicas();
    let refused: unknown;
    try {
      refused = await bus.publishBatch([{ topic, payload: { n: 3 }, id: 'm3' }]).catch((error: unknown) => error);
    } finally {
      thaw();
    }
    assert.ok(refused instanceof PublishError, `expected a PublishError, got ${String(refused)}`);
    assert.ok(refused.cause instanceof NotReplicatedError);
    assert.equal(refused.cause.code, 'E_NOT_REPLICATED');

    // The caller publishes again under the same id, as the auth-service's journal does: the
    // master already had the first copy, and the consumer handles the message once.
    await bus.publishBatch([{ topic, payload: { n: 3 }, id: 'm3' }]);
    await seen.until((events) => count(events, 'success') === 4 && count(events, 'duplicate') === 1);
    assert.deepEqual(
      seen.events
        .filter((event) => event.outcome === 'success')
        .map((event) => event.id)
        .sort(),
      ['m0', 'm1', 'm2', 'm3'],
    );
  } finally {
    seen.stop();
    await bus.close();
  }
});

// Last in this file: it fails a master over.
test('publishReplicas across a failover: once the old master is back as a replica, a retried publish reaches the new master', async () => {
  const topic = uniqueId('failover');
  const bus = testBus(cluster.url, { publishReplicas: 1 });
  try {
    await bus.publish(topic, { n: 0 });
    const victim = await cluster.masterOf(streamKey(topic, 'normal'));
    await cluster.stop(victim, 'SIGKILL');
    await cluster.waitUntilOk();
    for (const deadline = Date.now() + 20_000; (await cluster.masters()).includes(victim) && Date.now() < deadline;) await sleep(100);
    await cluster.restart(victim);
    await cluster.waitUntilOk();
    // The bus's client still maps the slot to the old master, a replica now: the write is
    // answered MOVED and WAIT refused there. Without a slot refresh every retry fails so.
    const failures: string[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const error = await bus.publish(topic, { n: 1 }, { id: 'after-failover' }).then(
        () => undefined,
        (refused: unknown) => String((refused as Error).cause ?? refused),
      );
      if (error === undefined) break;
      failures.push(error);
    }
    assert.ok(failures.length < 3, `published only after ${failures.length} failures: ${failures.join(' | ')}`);
  } finally {
    await bus.close();
  }
});

test('publishReplicas outside 0..16 is refused when the bus is made', () => {
  assert.throws(() => testBus(cluster.url, { publishReplicas: -1 }), /publishReplicas/);
  assert.throws(() => testBus(cluster.url, { publishReplicas: 1.5 }), /publishReplicas/);
});
