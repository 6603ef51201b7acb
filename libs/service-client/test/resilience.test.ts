import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { PolicyClient, type BreakerState } from '../src/index.ts';
import { useFakePolicyServer, behaviours, req, next } from './fake-policy-server.ts';

const { server, client } = useFakePolicyServer();

const nextState = (c: PolicyClient, wanted: BreakerState): Promise<void> => next((listener) => c.onBreakerStateChange(listener), wanted);

describe('deadlines', () => {
  test('a server that never answers gives E_DEADLINE_EXCEEDED, and no retry outlives the deadline', async () => {
    server.reset(behaviours.hang);
    const { client: c } = client({ timeoutMs: 60, retries: 5, backoffBaseMs: 1 });
    await assert.rejects(c.evaluate(req('slow')), { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(c.stats().timeouts, 1);
    // close() waits for every batch on the wire: once it resolves no attempt can still start.
    await c.close();
    await server.idle();
    // Attempts the client started (on a starved machine the server may not have seen
    // every one before it was abandoned): at least one, at most 1 + retries.
    const attempts = c.stats().roundTrips;
    assert.ok(attempts >= 1 && attempts <= 6, `attempts: ${attempts}`);
    assert.ok(server.received.length <= attempts, 'nothing reached the server after close()');
    assert.equal(c.stats().inFlightBatches, 0);
    assert.equal(c.stats().inFlightCalls, 0);
  });

  test('a per-call timeout overrides the default and is validated', async () => {
    server.reset(behaviours.hang);
    const { client: c } = client();
    await assert.rejects(c.evaluate(req('slow'), { timeoutMs: 20 }), { code: 'E_DEADLINE_EXCEEDED' });
    await assert.rejects(c.evaluate(req('x'), { timeoutMs: 0 }), /option timeoutMs .* received 0/);
    await c.close();
  });
});

describe('a service that stops answering', () => {
  test('after 3 silent timeouts in a row the session is dropped (with what is queued on it) and a new one opened', async () => {
    server.reset(behaviours.hang);
    const { client: c } = client({ timeoutMs: 40, retries: 0, breaker: { consecutiveFailures: 1000, volumeThreshold: 1000 } });
    await c.connect();
    const connects = c.stats().connection.connects;
    // A timeout this process caused by being busy does not count; on a starved machine
    // one may look busy, so ask until three have counted (ten at most).
    for (let i = 0; i < 10 && c.stats().connection.resets === 0; i++)
      await assert.rejects(c.evaluate(req(`silent${i}`)), { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(c.stats().connection.resets, 1);
    server.reset(behaviours.answer);
    // A new session's first call: a generous deadline, since a starved machine may take
    // longer than 40 ms to open it, and this test is about where the answer comes from.
    assert.equal((await c.evaluate(req('after'), { timeoutMs: 5000 })).decision, 'allow');
    assert.ok(c.stats().connection.connects > connects, 'the answer came on a new session');
  });

  test('an answer in between starts the count again', async () => {
    const { client: c } = client({ timeoutMs: 40, retries: 0, breaker: { consecutiveFailures: 1000, volumeThreshold: 1000 } });
    await c.connect();
    for (let round = 0; round < 3; round++) {
      server.reset(behaviours.hang);
      for (let i = 0; i < 2; i++) await assert.rejects(c.evaluate(req(`r${round}-${i}`)), { code: 'E_DEADLINE_EXCEEDED' });
      server.reset(behaviours.answer);
      await c.evaluate(req(`ok${round}`), { timeoutMs: 5000 });
    }
    assert.equal(c.stats().connection.resets, 0);
  });
});

describe('retries', () => {
  test('503s are retried until an answer comes', async () => {
    server.script([behaviours.status(503), behaviours.status(503)]);
    const { client: c } = client();
    const answer = await c.evaluate(req('alice'));
    assert.equal(answer.decision, 'allow');
    assert.equal(server.received.length, 3);
    assert.equal(c.stats().retries, 2);
  });

  test('a reset connection is retried on a new one', async () => {
    server.script([behaviours.reset]);
    const { client: c } = client();
    assert.equal((await c.evaluate(req('alice'))).reasons[0], 'p-alice');
    assert.ok(c.stats().retries >= 1);
  });

  test('GOAWAY is retried', async () => {
    server.script([behaviours.goaway]);
    const { client: c } = client();
    assert.equal((await c.evaluate(req('alice'))).reasons[0], 'p-alice');
  });

  test('503 on every attempt ends in E_POLICY_UNAVAILABLE after the retries', async () => {
    server.reset(behaviours.status(503));
    const { client: c } = client({ retries: 2 });
    await assert.rejects(c.evaluate(req('alice')), (error: any) => error.code === 'E_POLICY_UNAVAILABLE' && error.context.status === 503);
    assert.equal(server.received.length, 3);
  });

  test('a 4xx is not retried', async () => {
    server.reset(behaviours.status(400, { error: { code: 'E_BAD_REQUEST', message: 'nope' } }));
    const { client: c } = client();
    await assert.rejects(
      c.evaluate(req('alice')),
      (error: any) => error.code === 'E_POLICY_REJECTED' && error.context.itemCode === 'E_BAD_REQUEST',
    );
    assert.equal(server.received.length, 1);
    assert.equal(c.breakerState, 'closed');
  });

  test('an item error rejects only its caller, is not retried, and the rest of the batch is answered', async () => {
    const { client: c } = client();
    const [bad, good] = await Promise.allSettled([c.evaluate(req('x', 'Bad')), c.evaluate(req('y'))]);
    assert.equal(bad.status, 'rejected');
    assert.equal((bad as PromiseRejectedResult).reason.code, 'E_POLICY_REJECTED');
    assert.equal((bad as PromiseRejectedResult).reason.context.itemCode, 'E_VALIDATION');
    assert.equal(good.status === 'fulfilled' && good.value.reasons[0], 'p-y');
    assert.equal(server.received.length, 1);
  });
});

describe('hostile answers become E_POLICY_UNAVAILABLE, never a wrong decision', () => {
  const cases = {
    'non-JSON': behaviours.raw(200, '<html>oops</html>'),
    'too few results': behaviours.status(200, { policyVersion: 'v1', results: [{ decision: 'allow', reasons: [], errors: [] }] }),
    'not a batch answer': behaviours.status(200, { policyVersion: 'v1', results: [{ decision: 'maybe' }, { decision: 'allow' }] }),
    'a huge body': behaviours.raw(200, `{"policyVersion":"v1","results":[],"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`),
  };
  for (const [name, behaviour] of Object.entries(cases)) {
    test(name, async () => {
      server.reset(behaviour);
      const { client: c } = client({ maxResponseBytes: 64 * 1024 });
      const results = await Promise.allSettled([c.evaluate(req('a')), c.evaluate(req('b'))]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r as PromiseRejectedResult).reason.code, 'E_POLICY_UNAVAILABLE');
      }
      assert.equal(server.received.length, 1, 'a malformed answer is not retried');
    });
  }
});

describe('circuit breaker', () => {
  test('opens after 3 consecutive failures, fails fast, probes once after the reset timeout, closes on success', async () => {
    server.reset(behaviours.status(503));
    const { client: c, registry } = client({ retries: 0, breaker: { resetTimeoutMs: 200 } });
    const opened = nextState(c, 'open');
    for (let i = 0; i < 3; i++) await assert.rejects(c.evaluate(req(`u${i}`)), { code: 'E_POLICY_UNAVAILABLE' });
    await opened;
    const halfOpen = nextState(c, 'half-open');
    // Checked first, synchronously after the open event, so the reset timer cannot have run yet.
    const fast = c.evaluate(req('fast'));
    assert.equal(c.breakerState, 'open');
    assert.equal(c.healthCheck().check().status, 'down');
    await assert.rejects(fast, { code: 'E_CIRCUIT_OPEN' });
    assert.equal(server.received.length, 3, 'nothing reached the server while open');
    assert.equal(c.healthCheck('policy').name, 'policy');
    assert.equal(c.healthCheck().critical, true);
    assert.match(await registry.metrics(), /portcullis_circuit_state\{target="policy-service"\} 2/);

    server.reset(behaviours.answer);
    await halfOpen;
    assert.equal(c.breakerState, 'half-open');
    assert.match(await registry.metrics(), /portcullis_circuit_state\{target="policy-service"\} 1/);
    const closed = nextState(c, 'closed');
    assert.equal((await c.evaluate(req('probe'))).decision, 'allow');
    await closed;
    assert.equal(c.breakerState, 'closed');
    assert.equal(c.healthCheck().check().status, 'up');
    const text = await registry.metrics();
    assert.match(text, /portcullis_circuit_state\{target="policy-service"\} 0/);
    for (const event of ['open', 'half_open', 'close', 'failure', 'reject', 'success']) {
      assert.match(text, new RegExp(`portcullis_circuit_events_total\\{target="policy-service",event="${event}"\\} [1-9]`));
    }
    const stats = c.stats();
    assert.equal(stats.breakerOpens, 1);
    assert.equal(stats.circuitRejections, 1);
  });

  test('a failed probe opens it again', async () => {
    server.reset(behaviours.status(503));
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 1, resetTimeoutMs: 50 } });
    await assert.rejects(c.evaluate(req('a')), { code: 'E_POLICY_UNAVAILABLE' });
    await nextState(c, 'half-open');
    const reopened = nextState(c, 'open');
    await assert.rejects(c.evaluate(req('probe')), { code: 'E_POLICY_UNAVAILABLE' });
    await reopened;
    assert.equal(c.breakerState, 'open');
    assert.equal(server.received.length, 2);
  });

  /**
   * A connected client whose breaker opens on the first failure and then stays open for
   * `openMs` (first period too) unless something ends the wait; the server answers 503.
   */
  const failingWithLongOpenPeriod = async (openMs: number): Promise<PolicyClient> => {
    server.reset(behaviours.status(503));
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 1, resetTimeoutMs: openMs, firstResetTimeoutMs: openMs } });
    await c.connect();
    return c;
  };

  test('a session reopened to the service ends the open period at once: a restarted service is not made to wait out the reset', async () => {
    const c = await failingWithLongOpenPeriod(600_000);
    await assert.rejects(c.evaluate(req('a')), { code: 'E_POLICY_UNAVAILABLE' });
    assert.equal(c.breakerState, 'open');
    await assert.rejects(c.evaluate(req('b')), { code: 'E_CIRCUIT_OPEN' });
    server.reset(behaviours.answer);
    // Only the new session may end the wait here, not the /alive watch (next test).
    server.aliveStatus = 503;
    const halfOpen = nextState(c, 'half-open');
    // A restart as the client sees it: its session is gone, and a new one answers.
    server.dropSessions();
    await halfOpen;
    assert.equal((await c.evaluate(req('c'))).decision, 'allow');
    assert.equal(c.breakerState, 'closed');
    assert.equal(c.stats().breakerOpens, 1);
  });

  test('without a new session: a 2xx to /alive in time makes the next call the trial, not the end of a long open period', async () => {
    // A grey failure: batches fail, the session stays up. The breaker's period is a minute,
    // so only the /alive watch can end it within this test.
    const c = await failingWithLongOpenPeriod(60_000);
    const opened = nextState(c, 'open');
    await assert.rejects(c.evaluate(req('grey')));
    await opened;
    const connects = c.stats().connection.connects;

    // A quick 503 to /alive (a proxy's answer for a service still away) does not end the wait.
    server.aliveStatus = 503;
    await once(server, 'ping');
    await once(server, 'ping');
    assert.equal(c.breakerState, 'open');

    const pings = server.pings;
    server.reset(behaviours.answer);
    await nextState(c, 'half-open');
    assert.ok(server.pings > pings, 'an /alive probe ended the wait');
    assert.equal((await c.evaluate(req('back'))).decision, 'allow');
    assert.equal(c.breakerState, 'closed');
    assert.equal(c.stats().connection.connects, connects, 'the same session throughout');
  });

  test('with no caller to make the trial (an unready pod gets no traffic), the client makes it and closes once the service answers', async () => {
    server.reset(behaviours.status(503));
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 1, resetTimeoutMs: 100, firstResetTimeoutMs: 100 } });
    const opened = nextState(c, 'open');
    await assert.rejects(c.evaluate(req('last')), { code: 'E_POLICY_UNAVAILABLE' });
    await opened;
    // Still failing: the client's own trial fails and the breaker opens again, on its own.
    await nextState(c, 'half-open');
    await nextState(c, 'open');
    assert.equal(server.received.length, 2, 'the trial reached the service');
    server.reset(behaviours.answer);
    await nextState(c, 'closed');
    assert.equal(c.healthCheck().check().status, 'up');
    assert.equal(c.stats().circuitRejections, 0, 'no caller was refused: none called');
    for (const trial of server.received.slice(1))
      assert.deepEqual(
        trial.body.requests.map((r: { principal: unknown }) => r.principal),
        [req('last').principal],
        'each trial is the last request asked',
      );
    await c.close();
  });

  test('a trial of its own that gets no verdict (a whole-batch 4xx) is made again, until one closes the breaker', async () => {
    // The call that opens it, then a 400 for the first trial, then answers.
    server.script([behaviours.status(503), behaviours.status(400)]);
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 1, resetTimeoutMs: 100, firstResetTimeoutMs: 100 } });
    const opened = nextState(c, 'open');
    await assert.rejects(c.evaluate(req('last')), { code: 'E_POLICY_UNAVAILABLE' });
    await opened;
    await nextState(c, 'closed');
    assert.equal(server.received.length, 3, 'the opening call, the trial refused with a 400, the trial that closed it');
    await c.close();
  });

  test('timeouts open it by their rate, not by a few in a row', async () => {
    server.reset(behaviours.hang);
    const { client: c } = client({ timeoutMs: 30, retries: 0, breaker: { consecutiveFailures: 1, volumeThreshold: 1000 } });
    for (let i = 0; i < 3; i++) await assert.rejects(c.evaluate(req(`late${i}`)), { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(c.breakerState, 'closed', 'a deadline tail is not an outage');
    server.reset(behaviours.status(503));
    await assert.rejects(c.evaluate(req('error')), { code: 'E_POLICY_UNAVAILABLE' });
    assert.equal(c.breakerState, 'open', 'an error is counted in a row');
  });

  test('opens on the error rate over the window, consecutive failures or not', async () => {
    const fail = behaviours.status(503);
    const ok = behaviours.answer;
    server.script([fail, ok, fail, ok, fail, fail]);
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 100, volumeThreshold: 4, errorThresholdPercentage: 50 } });
    for (let i = 0; i < 6 && c.breakerState === 'closed'; i++) await c.evaluate(req(`u${i}`)).catch(() => undefined);
    assert.equal(c.breakerState, 'open');
  });

  test('4xx and item errors do not open it', async () => {
    server.reset(behaviours.status(422));
    const { client: c } = client({ retries: 0 });
    for (let i = 0; i < 5; i++) await assert.rejects(c.evaluate(req(`u${i}`)), { code: 'E_POLICY_REJECTED' });
    assert.equal(c.breakerState, 'closed');
  });
});

describe('lifecycle', () => {
  test('close() finishes in-flight calls, then refuses new ones', async () => {
    const { client: c } = client();
    const pending = c.evaluate(req('late'));
    await c.close();
    assert.equal((await pending).decision, 'allow');
    await assert.rejects(c.evaluate(req('after')), { code: 'E_POLICY_UNAVAILABLE' });
  });

  test('bad options throw a RangeError naming the option and value', () => {
    assert.throws(() => new PolicyClient({ url: 'https://x' }), /option url .*https:\/\/x/);
    assert.throws(() => new PolicyClient({ url: server.url, maxBatch: 0 }), /option maxBatch .* received 0/);
    assert.throws(
      () => new PolicyClient({ url: server.url, breaker: { errorThresholdPercentage: 150 } }),
      /breaker.errorThresholdPercentage .* received 150/,
    );
  });
});
