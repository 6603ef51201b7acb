// Two policy-service processes on one Redis, as the Kubernetes overlays run them: a PUT
// on either is the live set of both, and of any replica that starts later; the audit's
// per-principal counts are the same whichever replica is asked.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { TOPICS } from '@portcullis/contracts';
import { MessageBus } from '@portcullis/message-bus';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
let redis: RedisServerHandle;
const replicas: { port: number; process: ProcessHandle }[] = [];

const startReplica = async (port: number): Promise<ProcessHandle> =>
  startProcess({
    command: process.execPath,
    args: [MAIN],
    env: { POLICY_PORT: String(port), POLICY_ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url, POLICY_WATCH: 'false', LOG_LEVEL: 'info' },
    readyWhen: /policy-service ready on/,
  });
const liveVersion = async (port: number): Promise<string> =>
  (
    (await (await fetch(`http://127.0.0.1:${port}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      version: string;
    }
  ).version;
const evaluate = async (port: number, action: string) =>
  (await (
    await fetch(`http://127.0.0.1:${port}/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        principal: { type: 'User', id: 'alice' },
        action: { type: 'Action', id: action },
        resource: { type: 'Document', id: 'doc-1' },
      }),
    })
  ).json()) as { decision: string; policyVersion: string };

before(async () => {
  redis = await startRedisServer();
  for (let index = 0; index < 2; index += 1) {
    const port = await freePort();
    replicas.push({ port, process: await startReplica(port) });
  }
});
after(async () => {
  await Promise.all(replicas.map((replica) => replica.process.stop('SIGKILL')));
  await redis.close();
});

test('a PUT on one replica is live on the other at once, and on a replica that restarts', async () => {
  const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  assert.equal(await liveVersion(b.port), await liveVersion(a.port), 'the same files, the same set');
  const res = await fetch(`http://127.0.0.1:${a.port}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ policies: '@id("nobody-deletes") forbid(principal, action, resource);' }),
  });
  assert.equal(res.status, 200);
  const { version } = (await res.json()) as { version: string };
  await b.process.waitForLine(new RegExp(`"version":"${version}".*"reason":"policy.updated".*"msg":"policies loaded"`));
  assert.deepEqual(await evaluate(b.port, 'view'), { decision: 'deny', reasons: ['nobody-deletes'], errors: [], policyVersion: version });

  // A restart reads its files again; the set a PUT made stays live.
  await b.process.stop('SIGTERM');
  b.process = await startReplica(b.port);
  assert.equal(await liveVersion(b.port), version);
});

test('GET /audit/principals answers the same on every replica: what all of them consumed, counted once', async () => {
  const bus = new MessageBus({ redis: redis.url, source: 'test' });
  try {
    const decisions = Array.from({ length: 20 }, (_, index) => ({
      principal: 'User::"multi-replica"',
      action: 'view',
      resource: 'Document::"doc-1"',
      decision: index < 15 ? 'allow' : 'deny',
      policyVersion: 'v1',
      cache: 'miss',
      requestId: `multi-${index}`,
    }));
    // Two messages: the shared group may hand them to either replica, or one to each.
    await bus.publish(TOPICS.authDecision.topic, { decisions: decisions.slice(0, 10) }, { id: 'multi-a' });
    await bus.publish(TOPICS.authDecision.topic, { decisions: decisions.slice(10) }, { id: 'multi-b' });
    const logged = (requestId: string) =>
      Promise.any(replicas.map((replica) => replica.process.waitForLine(new RegExp(`"requestId":"${requestId}".*"msg":"auth decision"`))));
    await Promise.all([logged('multi-9'), logged('multi-19')]);
    for (const replica of replicas) {
      const res = await fetch(`http://127.0.0.1:${replica.port}/audit/principals`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const { principals } = (await res.json()) as { principals: { principal: string; allow: number; deny: number }[] };
      const counted = principals.find((stats) => stats.principal === 'User::"multi-replica"');
      assert.deepEqual({ allow: counted?.allow, deny: counted?.deny }, { allow: 15, deny: 5 }, `replica on ${replica.port}`);
    }
  } finally {
    await bus.close({ timeoutMs: 2000 });
  }
});
