import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

type Report = { ready: boolean; components: Record<string, { status: string; detail?: Record<string, unknown> }> };
const report = async (url: string, path: '/ready' | '/health'): Promise<{ status: number; body: Report }> => {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, body: (await res.json()) as Report };
};

describe('auth-service readiness: ready means able to answer', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(0);
  });
  after(() => stack.close());

  test('started before the policy-service: listening but not ready, it keeps trying; ready once the path is proved, and the first decision is a 200', async () => {
    await stack.policy.stop('SIGKILL');
    const auth = await stack.addAuth({}, /auth-service listening on/);
    const waiting = await report(auth.url, '/ready');
    assert.equal(waiting.status, 503);
    const policy = waiting.body.components['policy-service'];
    assert.equal(policy?.status, 'down');
    assert.equal(policy?.detail?.['warmedUp'], false);
    assert.equal(policy?.detail?.['connected'], false);
    // It does not exit for a missing policy-service: it is still answering probes.
    assert.equal((await fetch(`${auth.url}/alive`)).status, 200);

    await stack.startPolicy();
    await auth.process.waitForLine(/auth-service ready on/);
    const ready = await report(auth.url, '/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.components['policy-service']?.detail?.['connected'], true);
    const token = await stack.token();
    const first = await authenticate(auth.url, token, EDIT_DOC);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.allowed, true);
    assert.equal(first.body.cache, 'miss');
  });
});
