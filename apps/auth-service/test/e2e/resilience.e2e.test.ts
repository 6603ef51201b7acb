import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { DELETE_PHOTO, EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

describe('auth-service when its dependencies fail', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    // An open period far past the test's length: only a reopened session can end it, so
    // the recovery test proves the client sees the restart instead of waiting out a timer.
    stack = await startStack(1, { AUTH_BREAKER_RESET_MS: '600000', AUTH_BREAKER_FIRST_RESET_MS: '600000' });
    token = await stack.token();
  });
  after(() => stack.close());

  test('policy-service killed under load: fast 503s, never allow, no request past its deadline; recovery after restart', async () => {
    const url = stack.auth[0]!.url;
    assert.equal((await authenticate(url, token, EDIT_DOC)).status, 200);
    await stack.policy.stop('SIGKILL');
    // New decisions (varying context, so nothing is cached) while the policy-service is down.
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, n) => authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: n } })),
    );
    const elapsedMs = performance.now() - started;
    for (const answer of answers) {
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'E_DECISION_UNAVAILABLE');
      assert.notEqual(answer.body.allowed, true);
    }
    // Every one of them failed within the client's deadline plus retries, not after a hang.
    assert.ok(elapsedMs < 5000, `40 failing requests took ${elapsedMs} ms`);
    // The burst may have gone out as a single batch (one breaker failure); three more
    // sequential failures make the count certain, and then the breaker is open.
    for (let n = 0; n < 3; n += 1)
      assert.equal((await authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: 100 + n } })).status, 503);
    const ready = await fetch(`${url}/ready`);
    assert.equal(ready.status, 503);
    // Logged when it opened; the line may still be in the pipe on a busy machine.
    await stack.auth[0]!.process.waitForLine(/policy-service circuit open/);
    const halfOpen = stack.auth[0]!.process.waitForLine(/policy-service circuit half-open/, undefined, { fromNow: true });
    const closed = stack.auth[0]!.process.waitForLine(/policy-service circuit closed/, undefined, { fromNow: true });
    await stack.startPolicy();
    // The session keeper reconnects to the restarted service, which lets one trial through;
    // with no request coming (an unready pod gets none in Kubernetes), the client makes it.
    await halfOpen;
    await closed;
    const readyAgain = await fetch(`${url}/ready`);
    assert.equal(readyAgain.status, 200, await readyAgain.text());
    const probe = await authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: 1000 } });
    assert.equal(probe.status, 200, 'decisions resume once the policy-service is back');
  });

  test('policy-service restarted (SIGTERM: GOAWAY, then a new process): the session is reopened before any call needs it', async () => {
    const { url, process: auth } = stack.auth[0]!;
    const health = async () =>
      ((await (await fetch(`${url}/health`)).json()) as any).components['policy-service'].detail as {
        connected: boolean;
        connects: number;
      };
    assert.equal((await authenticate(url, token, EDIT_DOC)).status, 200);
    assert.equal((await health()).connected, true);
    const lost = auth.waitForLine(/policy-service session lost/, undefined, { fromNow: true });
    await stack.policy.stop('SIGTERM');
    await lost;
    const reopened = auth.waitForLine(/policy-service session open/, undefined, { fromNow: true });
    await stack.startPolicy();
    await reopened;
    const before = (await health()).connects;
    // New decisions right after the restart: none pays for connecting, none fails.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, n) => authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: 2000 + n } })),
    );
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((await health()).connects, before, 'the calls used the session the keeper had opened');
    const ready = await fetch(`${url}/ready`);
    // The report names the component that is not up, should this ever fail.
    assert.equal(ready.status, 200, await ready.text());
  });

  test('Redis killed: cached decisions come from L1 and new ones straight from the policy-service', async () => {
    const url = stack.auth[0]!.url;
    assert.equal((await authenticate(url, token, EDIT_DOC)).status, 200);
    assert.equal((await authenticate(url, token, EDIT_DOC)).body.cache, 'l1');
    const victim = await stack.token();
    await stack.redis.stop('SIGKILL');
    const cached = await authenticate(url, token, EDIT_DOC);
    assert.equal(cached.status, 200);
    assert.equal(cached.body.cache, 'l1');
    const fresh = await authenticate(url, token, { ...EDIT_DOC, context: { riskScore: 7 } });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.allowed, true);
    // A revocation that cannot be stored is not done: 503, so the client tries again
    // (RFC 7009 §2.2.1), and that retry must still find the token to revoke.
    const revoke = (): Promise<Response> =>
      fetch(`${url}/revoke`, {
        method: 'POST',
        body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
      });
    const refused = await revoke();
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable');
    assert.equal((await authenticate(url, victim, EDIT_DOC)).status, 200, 'not revoked anywhere yet');
    await stack.redis.restart();
    // As a client does after a 503: again after its Retry-After, until it is done (the
    // instance reconnects to the restarted Redis meanwhile).
    let answer = await revoke();
    for (let attempt = 1; answer.status === 503 && attempt < 30; attempt += 1) {
      await setTimeout(Number(answer.headers.get('retry-after') ?? 1) * 1000);
      answer = await revoke();
    }
    assert.equal(answer.status, 200);
    const after = await authenticate(url, victim, EDIT_DOC);
    assert.equal(after.body.error?.code, 'E_TOKEN_REVOKED');
  });
});
