// The decision cache while policy-service replicas move to a new policy set a few
// milliseconds apart: what a lagging replica's answer may and may not do (real Redis L2).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCache, type Cache } from '@portcullis/cache';
import type { EvaluateResponse } from '@portcullis/contracts';
import { closeRedis, openRedis, type RedisClient } from '@portcullis/redis';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { DecisionService, RETIRED_VERSION_MS, type Principal } from '../src/decisions.ts';

const alice: Principal = { sub: 'alice', roles: ['editor'], groups: [] };
const view = { action: 'view', resource: { type: 'Document', id: 'doc-1' }, context: {} };

/** Answers as the replica the test says; counts the calls. */
class ScriptedPolicy {
  calls = 0;
  answer: EvaluateResponse = { decision: 'allow', reasons: ['old'], errors: [], policyVersion: 'v1' };
  async evaluate(): Promise<EvaluateResponse> {
    this.calls += 1;
    return this.answer;
  }
}

describe('DecisionService while replicas change policy versions', () => {
  const server = useRedisServer();
  let redis: RedisClient;
  const caches: Cache[] = [];
  const open = async (name: string): Promise<Cache> => {
    const cache = await createCache({
      name,
      redis,
      types: { allow: { ttlMs: 60_000 }, deny: { ttlMs: 60_000 } },
    });
    caches.push(cache);
    return cache;
  };

  before(async () => {
    await server.started;
    redis = openRedis(server.url);
  });
  after(async () => {
    await Promise.all(caches.map((cache) => cache.close()));
    await closeRedis(redis);
  });

  test('an answer of another version than its key is served and cached nowhere, here or for other instances', async () => {
    const name = uniqueId('decisions');
    const policy = new ScriptedPolicy();
    const decisions = new DecisionService(await open(name), policy);
    assert.equal((await decisions.decide(alice, view)).cache, 'miss');
    assert.equal((await decisions.decide(alice, view)).cache, 'l1');
    // policy.updated says v2; the replica asked next has not loaded it yet.
    decisions.setVersion('v2');
    const lagging = await decisions.decide(alice, view);
    assert.deepEqual(
      { decision: lagging.decision, cache: lagging.cache, policyVersion: lagging.policyVersion },
      {
        decision: 'allow',
        cache: 'miss',
        policyVersion: 'v1',
      },
    );
    assert.equal(decisions.version, 'v2', 'not moved back to the version it was told was replaced');
    // Not cached under v2: the next request asks again, and the replica now has v2.
    policy.answer = { decision: 'deny', reasons: [], errors: [], policyVersion: 'v2' };
    assert.deepEqual(await decisions.decide(alice, view), { decision: 'deny', reasons: [], policyVersion: 'v2', cache: 'miss' });
    assert.equal(policy.calls, 3);
    // Another instance on v2 finds v2's decision in L2, never the lagging replica's.
    const other = new DecisionService(await open(name), policy);
    other.setVersion('v2');
    const shared = await other.decide(alice, view);
    assert.deepEqual({ decision: shared.decision, cache: shared.cache }, { decision: 'deny', cache: 'l2' });
  });

  test('a replaced version is not followed back for RETIRED_VERSION_MS; a newer one at once; policy.updated always', async () => {
    let now = 1_000_000;
    const policy = new ScriptedPolicy();
    const decisions = new DecisionService(await open(uniqueId('decisions')), policy, { now: () => now });
    await decisions.decide(alice, view);
    assert.equal(decisions.version, 'v1');
    decisions.setVersion('v2');
    await decisions.decide(alice, view);
    assert.equal(decisions.version, 'v2');
    // A version this instance never replaced (it missed the event): followed.
    policy.answer = { decision: 'allow', reasons: [], errors: [], policyVersion: 'v3' };
    await decisions.decide(alice, view);
    assert.equal(decisions.version, 'v3');
    // v1 was replaced long enough ago: an answer may bring it back (a revert whose event was lost).
    now += RETIRED_VERSION_MS;
    policy.answer = { decision: 'allow', reasons: [], errors: [], policyVersion: 'v1' };
    await decisions.decide(alice, view);
    assert.equal(decisions.version, 'v1');
    // policy.updated moves back at once, even to a version replaced a moment ago.
    assert.equal(decisions.setVersion('v3'), true);
    assert.equal(decisions.setVersion('v1'), true);
    assert.equal(decisions.version, 'v1');
  });
});
