import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { PolicyUpdatedEvent, TOPICS } from '@portcullis/contracts';
import { MessageBus } from '@portcullis/message-bus';
import { closeRedis, openRedis } from '@portcullis/redis';
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

/** Every version announced to a broadcast group of its own, and a wait for one that satisfies `done`. */
async function announcedVersions(group: string) {
  const received: string[] = [];
  let check: () => void = () => undefined;
  await bus.subscribe<PolicyUpdatedEvent>(
    TOPICS.policyUpdated.topic,
    (message) => {
      received.push(message.payload.version);
      check();
    },
    { mode: 'broadcast', group, parse: (payload) => PolicyUpdatedEvent.parse(payload) },
  );
  const until = (done: (versions: string[]) => boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      check = () => done(received) && resolve();
      check();
    });
  return { received, until };
}

/** `PUT /policies` on the service at `url`; expects 200 and resolves to the new version. */
async function putPolicies(url: string, policies: string, why?: string): Promise<string> {
  const res = await fetch(`${url}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ policies }),
  });
  assert.equal(res.status, 200, why);
  return ((await res.json()) as { version: string }).version;
}

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

// The timeout turns a dropped announcement into a failure, not a hang.
test(
  'a version going live again (a revert) is announced again, not dropped as a duplicate of its first announcement',
  { timeout: 20_000 },
  async () => {
    const { received, until } = await announcedVersions('test-revert');
    const good = await putPolicies(base, '@id("good") permit(principal, action == Action::"view", resource);');
    const bad = await putPolicies(base, '@id("bad") permit(principal, action, resource);');
    const arrived = until((versions) => versions.length === 3);
    assert.equal(await putPolicies(base, '@id("good") permit(principal, action == Action::"view", resource);'), good);
    await arrived;
    assert.deepEqual(received, [good, bad, good]);
  },
);

test('an announcement that fails is sent again until it is out; a version superseded meanwhile is skipped', async () => {
  const { received, until } = await announcedVersions('test-retry');
  // A second policy-service whose Redis user loses XADD: its publishes fail, nothing else does.
  const admin = openRedis(redis.url);
  const port = await freePort();
  let announcer: ProcessHandle | undefined;
  try {
    await admin.call('ACL', 'SETUSER', 'announcer', 'on', '>announcer-pass', '~*', '&*', '+@all');
    announcer = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: {
        POLICY_PORT: String(port),
        POLICY_ADMIN_TOKEN: ADMIN,
        REDIS_URL: `redis://announcer:announcer-pass@127.0.0.1:${redis.port}`,
        POLICY_WATCH: 'false',
        LOG_LEVEL: 'info',
      },
      readyWhen: /policy-service ready on/,
    });
    await admin.call('ACL', 'SETUSER', 'announcer', '-xadd');
    const put = (policies: string): Promise<string> =>
      putPolicies(`http://127.0.0.1:${port}`, policies, 'a failed announcement does not fail the swap');
    const superseded = await put('@id("first") permit(principal, action == Action::"view", resource);');
    await announcer.waitForLine(new RegExp(`"version":"${superseded}".*could not publish policy.updated`));
    const newest = await put('@id("second") permit(principal, action == Action::"edit", resource);');
    await announcer.waitForLine(new RegExp(`"version":"${newest}".*could not publish policy.updated`));
    const arrived = until((versions) => versions.includes(newest));
    await admin.call('ACL', 'SETUSER', 'announcer', '+xadd');
    await arrived;
    assert.equal(received.includes(superseded), false, 'never sent: the newer version replaced it');
  } finally {
    await announcer?.stop('SIGKILL');
    await closeRedis(admin);
  }
});

test('Redis away: a PUT answers 503 E_POLICY_STORE_UNAVAILABLE and changes nothing, audit reads 503 E_AUDIT_UNAVAILABLE; /ready stays 200', async () => {
  const before = (
    (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { version: string }
  ).version;
  await redis.stop();
  const res = await fetch(`${base}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ policies: '@id("nobody") forbid(principal, action, resource);' }),
  });
  // Stored nowhere, so live nowhere: one replica alone must not change what it decides.
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'E_POLICY_STORE_UNAVAILABLE');
  assert.equal(res.headers.get('retry-after'), '1');
  const live = (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { version: string };
  assert.equal(live.version, before);
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  // What reads the shared audit record says it cannot, rather than a 500 or a hang.
  const admin = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` };
  for (const answer of [
    await fetch(`${base}/audit/principals`, { headers: admin }),
    await fetch(`${base}/policies/impact`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ policies: 'permit(principal, action, resource);' }),
    }),
  ]) {
    assert.equal(answer.status, 503, answer.url);
    assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'E_AUDIT_UNAVAILABLE');
  }
  const health = (await (await fetch(`${base}/health`)).json()) as { components: Record<string, { status: string }> };
  assert.equal(health.components['message-bus']?.status, 'down');
});
