// A policy-service started while its Redis is not there yet (restarting, or, in Kubernetes,
// its headless Service not yet in DNS) starts anyway: it decides from its files, reports the
// bus down on /health without failing /ready, and subscribes once Redis answers. It used to
// exit after ioredis's retries (~11 s), which in Kubernetes meant CrashLoopBackOff.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const EDIT_DOC = {
  principal: { type: 'User', id: 'alice' },
  action: { type: 'Action', id: 'edit' },
  resource: { type: 'Document', id: 'doc-3' },
};

describe('policy-service started before its Redis', () => {
  let policy: ProcessHandle | undefined;
  let redis: RedisServerHandle | undefined;
  after(async () => {
    await policy?.stop();
    await redis?.stop();
  });

  test('it starts, decides and is ready without Redis, and subscribes once Redis comes', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    policy = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: { POLICY_PORT: String(port), POLICY_WATCH: 'false', REDIS_URL: `redis://127.0.0.1:${redisPort}` },
      readyWhen: /policy-service ready on/,
    });
    const evaluate = await fetch(`${url}/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(EDIT_DOC),
    });
    assert.equal(evaluate.status, 200);
    assert.equal(((await evaluate.json()) as { decision: string }).decision, 'allow');
    const ready = await fetch(`${url}/ready`);
    const report = (await ready.json()) as { components: Record<string, { status: string; detail?: { subscriptions?: number } }> };
    assert.equal(ready.status, 200, 'the bus is not critical: decisions do not need it');
    assert.equal(report.components['message-bus']?.status, 'down');

    // The first tries fail once ioredis gives up on their commands (~11 s); then Redis comes.
    await policy.waitForLine(/subscribing to the decision audit failed/, 60_000);
    await policy.waitForLine(/subscribing to policy updates failed/, 60_000);
    const audit = policy.waitForLine(/subscribed to the decision audit/, 60_000);
    const updates = policy.waitForLine(/subscribed to policy updates/, 60_000);
    redis = await startRedisServer({ port: redisPort });
    await Promise.all([audit, updates]);
    const health = (await (await fetch(`${url}/health`)).json()) as typeof report;
    assert.equal(health.components['message-bus']?.status, 'up');
    assert.equal(health.components['message-bus']?.detail?.subscriptions, 2);
    assert.equal(policy.child.exitCode, null, 'still running');
  });
});
