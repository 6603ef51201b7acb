// The per-client lockout after wrong secrets: the limiter's arithmetic under fake timers
// (Date only; scrypt still runs for real), then the registry that uses it.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { AttemptLimiter, ClientAuthError, ClientLockedError, ClientRegistry, lockoutKey } from '../../src/tokens/index.ts';

const WINDOW = 60_000;
const LOCKOUT = 1_000;
const MAX_LOCKOUT = 8_000;
const limiter = (extra: ConstructorParameters<typeof AttemptLimiter>[0] = {}) =>
  new AttemptLimiter({ maxFailures: 5, windowMs: WINDOW, lockoutMs: LOCKOUT, maxLockoutMs: MAX_LOCKOUT, ...extra });
const failTimes = (attempts: AttemptLimiter, key: string, n: number): number[] =>
  Array.from({ length: n }, () => attempts.recordFailure(key));

describe('AttemptLimiter', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 }));
  afterEach(() => mock.timers.reset());

  it('the 5th failure locks the key for lockoutMs; the lock counts down and ends', () => {
    const attempts = limiter();
    assert.deepEqual(failTimes(attempts, 'svc', 4), [0, 0, 0, 0]);
    assert.equal(attempts.retryAfterMs('svc'), 0);
    assert.equal(attempts.recordFailure('svc'), LOCKOUT);
    assert.equal(attempts.retryAfterMs('svc'), LOCKOUT);
    mock.timers.tick(400);
    assert.equal(attempts.retryAfterMs('svc'), LOCKOUT - 400);
    mock.timers.tick(LOCKOUT - 400);
    assert.equal(attempts.retryAfterMs('svc'), 0);
  });

  it('each failure after a lockout locks again at once for twice as long, up to maxLockoutMs', () => {
    const attempts = limiter();
    failTimes(attempts, 'svc', 5);
    const locks: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      mock.timers.tick(attempts.retryAfterMs('svc'));
      assert.equal(attempts.retryAfterMs('svc'), 0);
      locks.push(attempts.recordFailure('svc'));
      assert.equal(attempts.retryAfterMs('svc'), locks.at(-1));
    }
    assert.deepEqual(locks, [2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('a success starts the key afresh, lockout history included', () => {
    const attempts = limiter();
    failTimes(attempts, 'svc', 4);
    attempts.recordSuccess('svc');
    assert.deepEqual(failTimes(attempts, 'svc', 4), [0, 0, 0, 0]);
    failTimes(attempts, 'svc', 1);
    mock.timers.tick(LOCKOUT);
    attempts.recordSuccess('svc');
    assert.deepEqual(failTimes(attempts, 'svc', 5), [0, 0, 0, 0, LOCKOUT], 'back to the first lockout, not a doubled one');
  });

  it('failures count within the window from the first one; a quiet window after a lockout forgets it', () => {
    const attempts = limiter();
    failTimes(attempts, 'svc', 4);
    mock.timers.tick(WINDOW);
    assert.deepEqual(failTimes(attempts, 'svc', 4), [0, 0, 0, 0], 'the old four expired with their window');
    assert.equal(attempts.recordFailure('svc'), LOCKOUT);
    mock.timers.tick(LOCKOUT + WINDOW - 1);
    assert.equal(attempts.recordFailure('svc'), 2 * LOCKOUT, 'within the quiet window: still doubling');
    mock.timers.tick(2 * LOCKOUT + WINDOW);
    assert.equal(attempts.recordFailure('svc'), 0, 'after a quiet window: a first failure again');
  });

  it('keys are independent', () => {
    const attempts = limiter();
    failTimes(attempts, 'attacked', 5);
    assert.ok(attempts.retryAfterMs('attacked') > 0);
    assert.equal(attempts.retryAfterMs('other'), 0);
    assert.equal(attempts.recordFailure('other'), 0);
  });

  it('memory is bounded by maxEntries, whatever the number of made-up keys', () => {
    const attempts = limiter({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i += 1) failTimes(attempts, `made-up-${i}`, 5);
    assert.equal(attempts.size, 100);
    assert.ok(attempts.retryAfterMs('made-up-9999') > 0, 'the most recent keys are still locked');
  });

  it('refuses bad options naming them', () => {
    for (const [option, value] of [
      ['maxFailures', 0],
      ['windowMs', -1],
      ['lockoutMs', 1.5],
      ['maxEntries', Number.NaN],
    ] as const) {
      assert.throws(
        () => limiter({ [option]: value }),
        (error: unknown) => {
          assert.ok(error instanceof RangeError);
          assert.match(error.message, new RegExp(`^${option} .*received ${String(value)}`));
          return true;
        },
      );
    }
    assert.throws(() => limiter({ lockoutMs: 10_000, maxLockoutMs: 5_000 }), /maxLockoutMs must be at least lockoutMs/);
  });
});

describe('ClientRegistry: wrong secrets lock the presented client id out, from their source', () => {
  // A low scrypt cost keeps the tests quick; production uses Node's defaults.
  const params = { N: 1024, r: 8, p: 1 };
  const SECRET_A = 'client-a-secret-of-decent-length';
  const SECRET_B = 'client-b-secret-of-decent-length';
  /** svc-a's key for attempts that name no source. */
  const A = lockoutKey('svc-a', '');
  let attempts: AttemptLimiter;
  let clients: ClientRegistry;
  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
    attempts = limiter();
    clients = new ClientRegistry({ params, attempts });
    await clients.register({ clientId: 'svc-a', clientSecret: SECRET_A });
    await clients.register({ clientId: 'svc-b', clientSecret: SECRET_B });
  });
  afterEach(() => mock.timers.reset());

  const locked = (error: unknown): boolean => {
    assert.ok(error instanceof ClientLockedError);
    assert.ok(error instanceof ClientAuthError, 'a caller that knows only ClientAuthError still refuses');
    assert.equal(error.code, 'E_TOO_MANY_ATTEMPTS');
    assert.ok(error.retryAfterMs > 0 && error.retryAfterMs <= LOCKOUT);
    assert.deepEqual(Object.keys(error.context), ['retryAfterMs'], 'no client id, no secret');
    return true;
  };
  const invalid = (error: unknown): boolean => {
    assert.ok(error instanceof ClientAuthError && !(error instanceof ClientLockedError));
    assert.equal(error.code, 'E_INVALID_CLIENT');
    return true;
  };

  it('5 wrong secrets, then even the right one is refused until the lockout ends; other clients are unaffected', async () => {
    for (let i = 0; i < 5; i += 1) await assert.rejects(clients.authenticate('svc-a', `${SECRET_A}x`), invalid);
    await assert.rejects(clients.authenticate('svc-a', SECRET_A), locked);
    assert.equal((await clients.authenticate('svc-b', SECRET_B)).clientId, 'svc-b');
    mock.timers.tick(LOCKOUT);
    assert.equal((await clients.authenticate('svc-a', SECRET_A)).clientId, 'svc-a');
    assert.equal(attempts.retryAfterMs(A), 0);
    assert.deepEqual(failTimes(attempts, A, 4), [0, 0, 0, 0], 'the success started svc-a afresh');
  });

  it('wrong secrets from one source lock the id there only: its owner elsewhere keeps working, and a success there does not unlock the guesser', async () => {
    const guesser = '203.0.113.7';
    const owner = '198.51.100.9';
    for (let i = 0; i < 5; i += 1) await assert.rejects(clients.authenticate('svc-a', `${SECRET_A}x`, guesser), invalid);
    await assert.rejects(clients.authenticate('svc-a', SECRET_A, guesser), locked);
    assert.equal((await clients.authenticate('svc-a', SECRET_A, owner)).clientId, 'svc-a');
    await assert.rejects(clients.authenticate('svc-a', SECRET_A, guesser), locked);
    assert.equal(
      (await clients.authenticate('svc-a', SECRET_A)).clientId,
      'svc-a',
      'attempts that name no source share a source of their own',
    );
    assert.equal(attempts.retryAfterMs(lockoutKey('svc-a', owner)), 0);
    assert.ok(attempts.retryAfterMs(lockoutKey('svc-a', guesser)) > 0);
  });

  it('unknown client ids are limited by the presented id, and very long ids share one bounded key', async () => {
    for (let i = 0; i < 5; i += 1) await assert.rejects(clients.authenticate('nobody', SECRET_A), invalid);
    await assert.rejects(clients.authenticate('nobody', SECRET_A), locked);
    for (let i = 0; i < 5; i += 1) await assert.rejects(clients.authenticate(`${'x'.repeat(300)}${i}`, SECRET_A), invalid);
    await assert.rejects(clients.authenticate('x'.repeat(1000), SECRET_A), locked);
    assert.equal((await clients.authenticate('svc-a', SECRET_A)).clientId, 'svc-a');
  });

  it('a locked-out id is refused before any hashing (the refusal is settled before the next turn of the event loop)', async () => {
    failTimes(attempts, A, 5);
    const answer = clients.authenticate('svc-a', SECRET_A).then(
      () => 'accepted',
      (error: unknown) => (error instanceof ClientLockedError ? 'locked' : 'other'),
    );
    const turn = new Promise((resolve) => setImmediate(() => resolve('still hashing')));
    assert.equal(await Promise.race([answer, turn]), 'locked');
  });

  it('attempts in flight when the id gets locked are refused whatever their secret, so a burst learns nothing more', async () => {
    const inFlight = [clients.authenticate('svc-a', SECRET_A), clients.authenticate('svc-a', `${SECRET_A}x`)];
    failTimes(attempts, A, 5); // what other attempts of the burst did meanwhile
    // Both awaited at once: either may settle first, and one left waiting unhandled is an unhandled rejection.
    await Promise.all(inFlight.map((attempt) => assert.rejects(attempt, locked)));
    assert.equal(attempts.retryAfterMs(A), LOCKOUT, 'refused attempts are not counted again');
  });
});
