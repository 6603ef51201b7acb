import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { Registry, portcullisMetrics } from '@portcullis/observability';
import { CircuitBreaker, ConsecutiveFailures, FailureRate, backoffDelay, observeBreaker, type BreakerEvent } from '../src/index.ts';

function breaker(options: { threshold?: number; resetMs?: number; rate?: ConstructorParameters<typeof FailureRate>[0] } = {}) {
  let now = 0;
  const events: BreakerEvent[] = [];
  const rules = [new ConsecutiveFailures(options.threshold ?? 3), ...(options.rate ? [new FailureRate(options.rate)] : [])];
  const b = new CircuitBreaker({ rules, resetMs: options.resetMs ?? 1000, now: () => now });
  b.onEvent((event) => events.push(event));
  return {
    b,
    events,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('circuit breaker (fake clock)', () => {
  test('opens after consecutive failures, refuses, lets one trial through after resetMs, closes on its success', () => {
    const { b, events, advance } = breaker({ threshold: 2 });
    b.failure();
    b.success();
    b.failure();
    assert.equal(b.state, 'closed', 'a success in between resets the count');
    b.failure('timeout');
    assert.equal(b.state, 'open');
    assert.equal(b.refusing, true);
    assert.equal(b.tryAcquire(), false);
    advance(1000);
    assert.equal(b.refusing, false, 'past resetMs the next call may be the trial');
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.state, 'half-open');
    assert.equal(b.refusing, true);
    assert.equal(b.tryAcquire(), false, 'only one trial at a time');
    b.success();
    assert.equal(b.state, 'closed');
    assert.deepEqual(events, ['failure', 'success', 'failure', 'timeout', 'open', 'reject', 'half_open', 'reject', 'success', 'close']);
    assert.equal(b.opens, 1);
  });

  test('a failed trial opens it again; a released trial frees the slot without a verdict', () => {
    const { b, advance } = breaker({ threshold: 1, resetMs: 10 });
    b.failure();
    advance(10);
    assert.ok(b.tryAcquire());
    b.release();
    assert.equal(b.state, 'half-open');
    assert.ok(b.tryAcquire(), 'the slot is free again');
    b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.opens, 2);
  });

  test('verdicts of calls that went out before it opened do not close or count', () => {
    const { b } = breaker({ threshold: 1 });
    b.failure();
    b.success();
    b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.opens, 1);
  });

  test('the failure-rate rule opens on more than the threshold over the window, once there are enough calls', () => {
    const { b, advance } = breaker({ threshold: 100, rate: { thresholdPercent: 50, windowMs: 1000, minimumCalls: 4 } });
    for (const ok of [false, true, false, true]) {
      if (ok) b.success();
      else b.failure();
    }
    assert.equal(b.state, 'closed', '2 of 4 is not more than 50 %');
    advance(2000);
    b.failure();
    b.failure();
    assert.equal(b.state, 'closed', 'the old calls left the window: 2 calls is under the minimum');
    b.success();
    b.failure();
    assert.equal(b.state, 'open', '3 of 4 in the window failed');
  });

  test('each failed trial doubles the open period up to resetMs; closing starts over from firstResetMs', () => {
    let now = 0;
    const b = new CircuitBreaker({ rules: [new ConsecutiveFailures(1)], resetMs: 1000, firstResetMs: 100, now: () => now });
    const periods: number[] = [];
    b.failure();
    for (let i = 0; i < 6; i++) {
      const openedAt = now;
      while (b.refusing) now += 1;
      periods.push(now - openedAt);
      assert.ok(b.tryAcquire(), 'the trial goes out');
      b.failure();
    }
    assert.deepEqual(periods, [100, 200, 400, 800, 1000, 1000]);
    while (b.refusing) now += 1;
    assert.ok(b.tryAcquire());
    b.success();
    assert.equal(b.state, 'closed');
    b.failure();
    const openedAt = now;
    while (b.refusing) now += 1;
    assert.equal(now - openedAt, 100, 'a new opening is short again');
    b.shutdown();
  });

  test('probeNow ends the open period: the next call is the trial', () => {
    const { b } = breaker({ threshold: 1, resetMs: 60_000 });
    b.probeNow();
    assert.equal(b.state, 'closed', 'no effect while closed');
    b.failure();
    assert.equal(b.state, 'open');
    b.probeNow();
    assert.equal(b.state, 'half-open');
    assert.ok(b.tryAcquire());
    b.probeNow();
    assert.equal(b.tryAcquire(), false, 'no second trial while one is out');
    b.success();
    assert.equal(b.state, 'closed');
  });

  test('a trial after probeNow that fails opens for firstResetMs again, not twice the last period', () => {
    let now = 0;
    const b = new CircuitBreaker({ rules: [new ConsecutiveFailures(1)], resetMs: 1000, firstResetMs: 100, now: () => now });
    const openPeriod = (): number => {
      const openedAt = now;
      while (b.refusing) now += 1;
      return now - openedAt;
    };
    b.failure();
    for (const expected of [100, 200, 400]) {
      assert.equal(openPeriod(), expected);
      assert.ok(b.tryAcquire());
      b.failure();
    }
    // The dependency is back (its session reopened) but its first answer fails: it is warming up.
    b.probeNow();
    assert.ok(b.tryAcquire());
    b.failure();
    assert.equal(openPeriod(), 100, 'starts over instead of doubling to 800');
    assert.ok(b.tryAcquire());
    b.failure();
    assert.equal(openPeriod(), 200, 'a trial the period let through doubles again');
    b.shutdown();
  });

  test('consecutive failures without timeouts: timeouts neither count nor reset the run', () => {
    const b = new CircuitBreaker({ rules: [new ConsecutiveFailures(2, { timeouts: false })], resetMs: 10 });
    for (let i = 0; i < 10; i++) b.failure('timeout');
    assert.equal(b.state, 'closed');
    b.failure();
    b.failure('timeout');
    b.failure();
    assert.equal(b.state, 'open', 'two errors in a row, a timeout between them');
    b.shutdown();
  });

  test('turns half-open on a timer, without a call, so watchers see it', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const b = new CircuitBreaker({ rules: [new ConsecutiveFailures(1)], resetMs: 500 });
      const states: string[] = [];
      b.onEvent((_event, state) => states.push(state));
      b.failure();
      mock.timers.tick(499);
      assert.equal(b.state, 'open');
      mock.timers.tick(1);
      assert.equal(b.state, 'half-open');
      b.shutdown();
    } finally {
      mock.timers.reset();
    }
  });

  test('bad options throw a RangeError naming the option and the value', () => {
    assert.throws(() => new ConsecutiveFailures(0), /threshold must be an integer ≥ 1, received 0/);
    assert.throws(
      () => new FailureRate({ thresholdPercent: 0, windowMs: 10, minimumCalls: 1 }),
      /thresholdPercent must be in \(0, 100\], received 0/,
    );
    assert.throws(() => new CircuitBreaker({ rules: [], resetMs: 10 }), /option rules must be a list of at least one rule, received 0/);
    assert.throws(
      () => new CircuitBreaker({ rules: [new ConsecutiveFailures(1)], resetMs: 0 }),
      /resetMs must be an integer ≥ 1, received 0/,
    );
    assert.throws(
      () => new CircuitBreaker({ rules: [new ConsecutiveFailures(1)], resetMs: 10, firstResetMs: 20 }),
      /firstResetMs must be an integer in 1\.\.10, received 20/,
    );
  });

  test('metrics: one state gauge and one event counter per target', async () => {
    const registry = new Registry();
    const { b } = breaker({ threshold: 1 });
    observeBreaker(b, portcullisMetrics(registry), 'dep');
    b.success();
    b.failure();
    b.tryAcquire();
    const text = await registry.metrics();
    assert.match(text, /portcullis_circuit_state\{target="dep"\} 2/);
    for (const event of ['success', 'failure', 'open', 'reject'])
      assert.match(text, new RegExp(`portcullis_circuit_events_total\\{target="dep",event="${event}"\\} 1`));
  });
});

describe('backoff', () => {
  test('doubles per retry from the base, with jitter between half and all of the nominal delay, capped', () => {
    assert.equal(
      backoffDelay(0, { baseMs: 100 }, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(0, { baseMs: 100 }, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(3, { baseMs: 100 }, () => 1),
      800,
    );
    assert.equal(
      backoffDelay(10, { baseMs: 100, maxMs: 1000 }, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(10, { baseMs: 100, maxMs: 1000 }, () => 0),
      500,
    );
  });
});
