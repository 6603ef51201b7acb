// The audit consumer applies each `auth.decision` message once, however often the bus
// delivers it (a consumer killed between its handler and its ack, an ack Redis refused, a
// journal resent by a restarted auth-service): on a real Redis and a real bus.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import { TOPICS, type AuthDecisionEvent } from '@portcullis/contracts';
import { MessageBus, type ProcessedEvent } from '@portcullis/message-bus';
import { createLogger, Registry } from '@portcullis/observability';
import { closeRedis, NotReplicatedError, openRedis, type RedisClient } from '@portcullis/redis';
import { logLines, startRedisCluster, useRedisServer } from '@portcullis/testing';
import { DecisionAuditLog } from '../src/audit.ts';
import {
  APPLIED_KEY,
  APPLIED_TTL_MS,
  PRINCIPAL_COUNTS_KEY,
  RecentDecisions,
  RECENT_DECISIONS_KEY,
  type RecordedDecision,
} from '../src/impact/recent.ts';

const decision = (requestId: string): AuthDecisionEvent => ({
  principal: 'User::"alice"',
  action: 'view',
  resource: 'Document::"doc-1"',
  decision: 'allow',
  policyVersion: 'v1',
  cache: 'miss',
  requestId,
});
const recorded = (requestId: string): RecordedDecision => ({ ...decision(requestId), at: new Date().toISOString() });

describe('audit: each message applied once (real Redis)', () => {
  const server = useRedisServer();
  let redis: RedisClient;
  let recent: RecentDecisions;
  const requestIdsInStream = async (): Promise<string[]> =>
    (await redis.xrange(RECENT_DECISIONS_KEY, '-', '+')).map(([, fields]) => (JSON.parse(fields[1] ?? '{}') as RecordedDecision).requestId);

  before(async () => {
    await server.started;
    redis = openRedis(server.url);
    recent = new RecentDecisions(redis, { maxLength: 10_000 });
  });
  after(async () => {
    await closeRedis(redis);
  });

  test('a message recorded again, or twice in one call, is skipped; its decisions are in the stream once', async () => {
    await redis.flushall();
    assert.deepEqual(await recent.record([{ id: 'm1', decisions: [recorded('r1'), recorded('r2')] }]), [true]);
    assert.deepEqual(await recent.record([{ id: 'm1', decisions: [recorded('r1'), recorded('r2')] }]), [false]);
    assert.deepEqual(
      await recent.record([
        { id: 'm2', decisions: [recorded('r3')] },
        { id: 'm2', decisions: [recorded('r3')] },
        { id: 'm3', decisions: [recorded('r4')] },
      ]),
      [true, false, true],
    );
    assert.deepEqual(await requestIdsInStream(), ['r1', 'r2', 'r3', 'r4']);
  });

  test('decisions are counted per principal with the record, once per message, for the most recently seen principals', async () => {
    await redis.flushall();
    const bounded = new RecentDecisions(redis, { maxLength: 10_000, maxPrincipals: 2 });
    const by = (principal: string, verdict: 'allow' | 'deny', at: string, requestId: string): RecordedDecision => ({
      ...decision(requestId),
      principal,
      decision: verdict,
      at,
    });
    await bounded.record([
      {
        id: 'p1',
        decisions: [
          by('User::"ann"', 'allow', '2026-12-04T10:00:00.000Z', 'a1'),
          by('User::"ann"', 'deny', '2026-12-04T10:00:01.000Z', 'a2'),
        ],
      },
      { id: 'p2', decisions: [by('User::"bob"', 'allow', '2026-12-04T10:00:02.000Z', 'b1')] },
    ]);
    await bounded.record([{ id: 'p1', decisions: [by('User::"ann"', 'allow', '2026-12-04T10:00:00.000Z', 'a1')] }]);
    await bounded.record([{ id: 'p3', decisions: [by('User::"ann"', 'allow', '2026-12-04T10:00:03.000Z', 'a3')] }]);
    assert.deepEqual(await bounded.topPrincipals(), [
      { principal: 'User::"ann"', allow: 2, deny: 1, lastSeen: '2026-12-04T10:00:03.000Z' },
      { principal: 'User::"bob"', allow: 1, deny: 0, lastSeen: '2026-12-04T10:00:02.000Z' },
    ]);
    // A third principal: the least recently seen (bob) is dropped, counts and all.
    await bounded.record([{ id: 'p4', decisions: [by('User::"cy"', 'deny', '2026-12-04T10:00:04.000Z', 'c1')] }]);
    assert.deepEqual(
      (await bounded.topPrincipals()).map((stats) => stats.principal),
      ['User::"ann"', 'User::"cy"'],
    );
    assert.equal(await redis.hexists(PRINCIPAL_COUNTS_KEY, 'a:User::"bob"'), 0);
    assert.deepEqual(await bounded.topPrincipals(1), [
      { principal: 'User::"ann"', allow: 2, deny: 1, lastSeen: '2026-12-04T10:00:03.000Z' },
    ]);
  });

  test('two deliveries recorded at the same moment: exactly one records', async () => {
    await redis.flushall();
    const answers = await Promise.all(Array.from({ length: 8 }, () => recent.record([{ id: 'same', decisions: [recorded('r1')] }])));
    assert.equal(answers.flat().filter(Boolean).length, 1);
    assert.deepEqual(await requestIdsInStream(), ['r1']);
  });

  test('ids older than APPLIED_TTL_MS are forgotten, so the set stays bounded', async () => {
    await redis.flushall();
    await redis.zadd(APPLIED_KEY, Date.now() - APPLIED_TTL_MS - 1000, 'old');
    assert.deepEqual(await recent.record([{ id: 'new', decisions: [recorded('r1')] }]), [true]);
    assert.equal(await redis.zscore(APPLIED_KEY, 'old'), null);
    assert.notEqual(await redis.zscore(APPLIED_KEY, 'new'), null);
  });

  test('two bus entries under one message id: one audit line and one count per decision', async () => {
    await redis.flushall();
    const { lines, destination } = logLines();
    const bus = new MessageBus({ redis: server.url, registry: new Registry(), logger: createLogger({ service: 'test', level: 'warn' }) });
    const stored: ProcessedEvent[] = [];
    let settle: () => void = () => undefined;
    const bothStored = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const listener = (event: unknown): void => {
      stored.push(event as ProcessedEvent);
      if (stored.length === 2) settle();
    };
    subscribe('portcullis:bus:processed', listener);
    try {
      // What a restarted auth-service's journal does when its predecessor's publish had landed.
      const payload = { decisions: [decision('q1'), decision('q2')] };
      await bus.publish(TOPICS.authDecision.topic, payload, { id: 'journal-1' });
      await bus.publish(TOPICS.authDecision.topic, payload, { id: 'journal-1' });
      const audit = new DecisionAuditLog(createLogger({ service: 'test', destination }), { recent });
      await audit.subscribe(bus);
      await bothStored;
      const audited = lines
        .filter((line) => line.includes('"msg":"auth decision"'))
        .map((line) => (JSON.parse(line) as AuthDecisionEvent).requestId);
      assert.deepEqual(audited.sort(), ['q1', 'q2']);
      assert.deepEqual((await requestIdsInStream()).sort(), ['q1', 'q2']);
      assert.deepEqual(
        (await audit.top()).map(({ principal, allow, deny }) => ({ principal, allow, deny })),
        [{ principal: 'User::"alice"', allow: 2, deny: 0 }],
      );
    } finally {
      unsubscribe('portcullis:bus:processed', listener);
      await bus.close();
    }
  });

  // The timeout turns a dead-lettered message (never a success) into a failure, not a hang.
  test(
    'a record Redis refuses (a failover, no replica) is retried past maxAttempts and recorded once it can be, never dead-lettered',
    { timeout: 30_000 },
    async () => {
      await redis.flushall();
      const bus = new MessageBus({ redis: server.url, registry: new Registry(), logger: createLogger({ service: 'test', level: 'warn' }) });
      const outcomes: ProcessedEvent[] = [];
      let succeeded: () => void = () => undefined;
      const success = new Promise<void>((resolve) => (succeeded = resolve));
      const listener = (event: unknown): void => {
        outcomes.push(event as ProcessedEvent);
        if ((event as ProcessedEvent).outcome === 'success') succeeded();
      };
      subscribe('portcullis:bus:processed', listener);
      // The first 5 records fail, as many as the bus's default maxAttempts.
      let refusals = 5;
      const flaky = {
        record: (messages: Parameters<RecentDecisions['record']>[0]) =>
          refusals-- > 0 ? Promise.reject(new Error('NOREPLICAS Not enough good replicas to write.')) : recent.record(messages),
      } as unknown as RecentDecisions;
      try {
        await bus.publish(TOPICS.authDecision.topic, { decisions: [decision('f1')] }, { id: 'failover-1' });
        await new DecisionAuditLog(createLogger({ service: 'test', level: 'silent' }), { recent: flaky }).subscribe(bus);
        await success;
        assert.deepEqual(
          outcomes.map((event) => event.outcome),
          ['retry', 'retry', 'retry', 'retry', 'retry', 'success'],
        );
        assert.equal(await bus.deadLetters.size(TOPICS.authDecision.topic), 0);
        assert.deepEqual(await requestIdsInStream(), ['f1']);
      } finally {
        unsubscribe('portcullis:bus:processed', listener);
        await bus.close();
      }
    },
  );
});

test('on a Redis Cluster too: the stream and the applied set share a slot, so the one script may touch both', async () => {
  const cluster = await startRedisCluster(3);
  const redis = openRedis(cluster.url);
  try {
    const recent = new RecentDecisions(redis, { maxLength: 1000 });
    assert.deepEqual(await recent.record([{ id: 'c1', decisions: [recorded('r1')] }]), [true]);
    assert.deepEqual(await recent.record([{ id: 'c1', decisions: [recorded('r1')] }]), [false]);
    assert.equal(await redis.xlen(RECENT_DECISIONS_KEY), 1);
  } finally {
    await closeRedis(redis);
    await cluster.close();
  }
});

test('with replicas asked for, a record resolves only once a replica holds it; until then it fails and the redelivery waits again', async () => {
  const cluster = await startRedisCluster(3, { replicas: 1 });
  const redis = openRedis(cluster.url);
  try {
    const recent = new RecentDecisions(redis, { maxLength: 1000, replicas: 1 });
    assert.deepEqual(await recent.record([{ id: 'w1', decisions: [recorded('r1')] }]), [true]);
    // Replicas frozen: the master records, no replica acknowledges, the bus must not ack.
    const thaw = await cluster.freezeReplicas();
    try {
      await assert.rejects(recent.record([{ id: 'w2', decisions: [recorded('r2')] }]), NotReplicatedError);
    } finally {
      thaw();
    }
    // The redelivery: already on the master, so skipped there, and now acknowledged.
    assert.deepEqual(await recent.record([{ id: 'w2', decisions: [recorded('r2')] }]), [false]);
    assert.equal(await redis.xlen(RECENT_DECISIONS_KEY), 2);
  } finally {
    await closeRedis(redis);
    await cluster.close();
  }
});
