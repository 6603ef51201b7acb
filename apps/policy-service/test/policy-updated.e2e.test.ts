import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { PolicyUpdatedEvent, TOPICS } from '@portcullis/contracts';
import { MessageBus } from '@portcullis/message-bus';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
let redis: RedisServerHandle;
let service: ProcessHandle;
let bus: MessageBus;
let base: string;

before(async () => {
  redis = await startRedisServer();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  service = await startProcess({
    command: process.execPath,
    args: [MAIN],
    env: { POLICY_PORT: String(port), POLICY_ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url, POLICY_WATCH: 'false' },
    readyWhen: /policy-service ready on/,
  });
  bus = new MessageBus({ redis: redis.url, source: 'test' });
});
after(async () => {
  try {
    await bus.close({ timeoutMs: 2000 });
  } finally {
    await service.stop('SIGKILL');
    await redis.close();
  }
});

test('a PUT /policies announces policy.updated on the bus with the new version', async () => {
  const received: PolicyUpdatedEvent[] = [];
  let notify: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => {
    notify = resolve;
  });
  await bus.subscribe<PolicyUpdatedEvent>(
    TOPICS.policyUpdated.topic,
    (message) => {
      received.push(message.payload);
      notify();
    },
    { mode: 'broadcast', group: 'test', parse: (payload) => PolicyUpdatedEvent.parse(payload) },
  );
  const before = (
    (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { version: string }
  ).version;
  const res = await fetch(`${base}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ policies: '@id("everyone-views") permit(principal, action == Action::"view", resource);' }),
  });
  assert.equal(res.status, 200);
  const { version } = (await res.json()) as { version: string };
  await arrived;
  assert.deepEqual(received, [{ version, previousVersion: before, policyCount: 1 }]);
});

test('Redis going away does not fail a PUT: the swap succeeds and /ready stays 200', async () => {
  await redis.stop();
  const res = await fetch(`${base}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ policies: '@id("nobody") forbid(principal, action, resource);' }),
  });
  assert.equal(res.status, 200);
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  const health = (await (await fetch(`${base}/health`)).json()) as { components: Record<string, { status: string }> };
  assert.equal(health.components['message-bus']?.status, 'down');
});
